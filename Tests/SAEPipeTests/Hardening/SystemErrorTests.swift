import Foundation
import SAEPipeCore
import SAEPipeData
import XCTest

/// Errors from the file system read as saepipe errors: operation, path and reason in words.
final class SystemErrorTests: XCTestCase {
    func testFoundationFileErrorsNameOperationPathAndReason() {
        let cases: [(CocoaError.Code, String)] = [
            (.fileWriteOutOfSpace, "cannot write /data/acts.mmap: No space left on device (ENOSPC)"),
            (.fileWriteVolumeReadOnly, "cannot write /data/acts.mmap: Read-only file system (EROFS)"),
            (.fileWriteNoPermission, "cannot write /data/acts.mmap: Permission denied (EACCES)"),
            (.fileReadNoPermission, "cannot read /data/acts.mmap: Permission denied (EACCES)"),
        ]
        for (code, expected) in cases {
            let error = SAEPipeError.fromSystem(CocoaError(code, userInfo: [NSFilePathErrorKey: "/data/acts.mmap"]))
            XCTAssertEqual(error.message, expected)
            XCTAssertEqual(error.exitCode, 1)
            XCTAssertEqual(error.file, "/data/acts.mmap")
            XCTAssertFalse(error.description.contains("NSCocoaErrorDomain"), error.description)
        }
        XCTAssertTrue(SAEPipeError.fromSystem(CocoaError(.fileWriteOutOfSpace)).hint?.contains("free disk space") == true)
    }

    func testARealFailedWriteIsDescribed() throws {
        let directory = try temporaryDirectory(self)
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(directory)/file"))
        XCTAssertThrowsError(try FileSystem.writeAtomically("y", to: "\(directory)/file/inside.json")) { error in
            let described = "\(error)"
            XCTAssertTrue(described.contains("cannot") && described.contains("\(directory)/file"), described)
            XCTAssertFalse(described.contains("Error Domain"), described)
        }
    }

    /// A FileHandle's write errors carry no path; the activation writer adds it (/dev/full fails every write with ENOSPC).
    func testAFullDiskDuringCollectNamesTheFile() throws {
        guard FileSystem.exists("/dev/full") else { throw XCTSkip("no /dev/full here") }
        let writer = try ActivationStore.RowWriter(path: "/dev/full", dtype: .float32)
        let row = [Float](repeating: 1, count: 4)
        XCTAssertThrowsError(try row.withUnsafeBufferPointer { try writer.append($0); try writer.close() }) { error in
            let described = "\(error)"
            XCTAssertTrue(described.contains("cannot write /dev/full") && described.contains("ENOSPC"), described)
        }
    }
}

/// Path splitting without Foundation's NSString methods, which trap on one-character paths.
final class PathComponentTests: XCTestCase {
    func testParentAndLastComponentMatchNSStringWhereItWorks() {
        let cases: [(String, String, String)] = [
            ("a", "", "a"), ("ab", "", "ab"), ("a/b", "a", "b"), ("a/b/", "a", "b"), ("/x", "/", "x"), ("/", "/", "/"),
            ("", "", ""), ("dir//x.gguf", "dir", "x.gguf"), ("outputs/default", "outputs", "default"), ("/a/b/c", "/a/b", "c"),
        ]
        for (path, parent, last) in cases {
            XCTAssertEqual(FileSystem.parent(of: path), parent, path)
            XCTAssertEqual(FileSystem.lastComponent(of: path), last, path)
        }
    }
}
