// libFuzzer target: model-file bytes -> SafetensorsFile(bytes:path:), then a PixelRNN
// built from the parsed container (the internal init(file:path:) that
// PixelRNN(contentsOf:) uses; the fuzz build compiles PixelRNN with -enable-testing).
@testable import PixelRNN

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let file = try? SafetensorsFile(bytes: bytes, path: "fuzz.safetensors") else { return 0 }
    _ = try? PixelRNN(file: file, path: "fuzz.safetensors")
    return 0
}
