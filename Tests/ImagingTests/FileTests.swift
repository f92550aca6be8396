import Foundation
import Imaging
import Testing

/// `Image.decode(contentsOf:)` and `writePNG(to:)`: only regular files are read, errors
/// carry the path and errno.
@Suite struct FileTests {
    let png: [UInt8]

    init() throws { png = try Fixtures.bytes("pngsuite/basn6a08.png") }

    static func decodeError(path: String) -> ImagingError? {
        do {
            _ = try Image.decode(contentsOf: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsARegularFile() throws {
        let image = try withTemporaryDirectory { (directory: String) throws -> Image in
            let path = directory + "/image.png"
            try Data(png).write(to: URL(fileURLWithPath: path))
            return try Image.decode(contentsOf: path)
        }
        #expect(image == (try Image.decode(bytes: png)))
    }

    @Test func refusesASymbolicLink() throws {
        try withTemporaryDirectory { (directory: String) throws -> Void in
            try Data(png).write(to: URL(fileURLWithPath: directory + "/target.png"))
            try FileManager.default.createSymbolicLink(atPath: directory + "/link.png", withDestinationPath: "target.png")
            #expect(throws: ImagingError.notRegularFile(path: directory + "/link.png", kind: "symbolic link")) {
                try Image.decode(contentsOf: directory + "/link.png")
            }
        }
    }

    @Test func refusesADirectory() throws {
        try withTemporaryDirectory { (directory: String) throws -> Void in
            #expect(throws: ImagingError.notRegularFile(path: directory, kind: "directory")) {
                try Image.decode(contentsOf: directory)
            }
        }
    }

    @Test func refusesAFIFOWithoutBlocking() throws {
        try withTemporaryDirectory { (directory: String) throws -> Void in
            let path = directory + "/fifo.png"
            try #require(mkfifo(path, 0o600) == 0)
            #expect(throws: ImagingError.notRegularFile(path: path, kind: "FIFO")) {
                try Image.decode(contentsOf: path)
            }
        }
    }

    @Test func missingFileIsAnIOErrorWithErrno() throws {
        try withTemporaryDirectory { (directory: String) throws -> Void in
            let path = directory + "/missing.png"
            let expected = ImagingError.io(path: path, operation: "open", errno: ENOENT)
            #expect(throws: expected) { try Image.decode(contentsOf: path) }
            #expect(expected.description.contains(path))
        }
    }

    @Test func contentErrorsNameTheFile() throws {
        try withTemporaryDirectory { (directory: String) throws -> Void in
            let empty = directory + "/empty.png"
            let garbage = directory + "/garbage.jpg"
            let big = directory + "/big.png"
            _ = FileManager.default.createFile(atPath: empty, contents: Data())
            _ = FileManager.default.createFile(atPath: garbage, contents: Data("not an image at all".utf8))
            _ = FileManager.default.createFile(atPath: big, contents: Data(png))
            #expect(throws: ImagingError.inFile(path: empty, .empty)) { try Image.decode(contentsOf: empty) }
            let error = Self.decodeError(path: garbage)
            guard case .inFile(garbage, .unknownFormat) = error else {
                Issue.record("unexpected \(String(describing: error))")
                return
            }
            #expect(error?.description.hasPrefix(garbage + ": unknown image format") == true)
            let limits = ImageLimits(maxWidth: 64, maxHeight: 64, maxPixels: 4096, maxFileBytes: 100)
            #expect(throws: ImagingError.inFile(path: big, .fileTooLarge(bytes: png.count, limit: 100))) {
                try Image.decode(contentsOf: big, limits: limits)
            }
        }
    }

    @Test func writePNGWritesADecodableFile() throws {
        let image = try Image.decode(bytes: png)
        let decoded = try withTemporaryDirectory { (directory: String) throws -> Image in
            let path = directory + "/out.png"
            try image.writePNG(to: path, sync: true)
            return try Image.decode(contentsOf: path)
        }
        #expect(decoded == image)
    }

    @Test func writePNGReportsTheFailingPath() throws {
        let image = Image(width: 2, height: 2, channels: 1)
        try withTemporaryDirectory { (directory: String) throws -> Void in
            let path = directory + "/no-such-folder/out.png"
            #expect(throws: ImagingError.io(path: path, operation: "open", errno: ENOENT)) {
                try image.writePNG(to: path)
            }
        }
    }

    @Test func onlyTheMachinesIOErrorsAreTransient() {
        #expect(ImagingError.io(path: "/x", operation: "read", errno: EIO).isTransient)
        #expect(ImagingError.io(path: "/x", operation: "write", errno: ENOSPC).isTransient)
        #expect(!ImagingError.io(path: "/x", operation: "open", errno: ENOENT).isTransient)
        #expect(!ImagingError.notRegularFile(path: "/x", kind: "FIFO").isTransient)
        #expect(!ImagingError.inFile(path: "/x", .empty).isTransient)
    }
}
