import Testing
@testable import PixelRNN
