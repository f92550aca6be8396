import PixelRNN
print("pixelrnn")
