// libFuzzer target: daemon configuration text -> DaemonConfiguration.apply(text:origin:).
import Spool

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { UnsafeBufferPointer(start: $0, count: size) } ?? UnsafeBufferPointer(start: nil, count: 0)
    var configuration = DaemonConfiguration()
    _ = try? configuration.apply(text: String(decoding: bytes, as: UTF8.self), origin: "fuzz.conf")
    return 0
}
