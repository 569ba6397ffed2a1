import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeHub
import SAEPipeModels
import XCTest

/// Hub resolution and download against a local server with the Hub's URL shapes.
final class HubTests: XCTestCase {
    var server: LocalHubServer!

    override func setUpWithError() throws {
        server = LocalHubServer()
        let model = fixturePath("tiny-neox")
        for (name, lfs) in [("config.json", false), ("tokenizer.json", false), ("model.safetensors", true)] {
            server.host(repo: "tiny/neox", path: name, content: try Data(contentsOf: URL(fileURLWithPath: "\(model)/\(name)")),
                        lfs: lfs)
        }
        server.host(repo: "tiny/neox", path: "pytorch_model.bin", content: Data("pickle".utf8), lfs: true)
        server.host(repo: "tiny/pickled", path: "config.json", content: Data("{}".utf8), lfs: false)
        server.host(repo: "tiny/pickled", path: "pytorch_model.bin", content: Data("pickle".utf8), lfs: true)
        try server.start()
    }

    override func tearDown() {
        server.stop()
    }

    func client(_ cache: String, offline: Bool = false) -> HubClient {
        HubClient(cache: HubCache(root: cache), endpoint: server.endpoint, offline: offline, console: Console(verbosity: .quiet))
    }

    func testDownloadsIntoTheSharedCacheLayoutAndLoads() throws {
        let cache = try temporaryDirectory(self)
        let path = try ModelSource.resolve("tiny/neox", artifacts: cache, hub: client(cache))
        XCTAssertEqual(path, "\(cache)/models--tiny--neox/snapshots/\(server.commit)")
        XCTAssertEqual(try String(contentsOfFile: "\(cache)/models--tiny--neox/refs/main", encoding: .utf8), server.commit)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/model.safetensors")
        XCTAssertTrue(link.hasPrefix("../../blobs/"), link)
        XCTAssertFalse(FileSystem.exists("\(path)/pytorch_model.bin"), "pickles are never fetched")
        let model = try LanguageModel.load(path)
        XCTAssertEqual(model.dimensions.dModel, 64)

        // A second resolve is served from the cache without any request.
        let before = server.requests.count
        XCTAssertEqual(try ModelSource.resolve("tiny/neox", artifacts: cache, hub: client(cache, offline: true)), path)
        XCTAssertEqual(server.requests.count, before)
    }

    func testInterruptedDownloadResumesWithRange() throws {
        let cache = try temporaryDirectory(self)
        let hub = client(cache)
        let repo = HubRepo(id: "tiny/neox")
        server.dropNextBodyAfter = 10_000
        XCTAssertThrowsError(try hub.file(repo, "model.safetensors"))
        let partials = FileSystem.listFiles(in: "\(cache)/models--tiny--neox/blobs").filter { $0.hasSuffix(".incomplete") }
        XCTAssertEqual(partials.count, 1)
        let path = try hub.file(repo, "model.safetensors")
        XCTAssertTrue(server.requests.contains { $0.hasPrefix("GET /cdn/") && $0.hasSuffix("[bytes=10000-]") }, "\(server.requests)")
        let original = try Data(contentsOf: URL(fileURLWithPath: fixturePath("tiny-neox/model.safetensors")))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), original)
    }

    func testCorruptDownloadIsRejectedAndRemoved() throws {
        let cache = try temporaryDirectory(self)
        server.corruptBodies = true
        XCTAssertThrowsError(try client(cache).file(HubRepo(id: "tiny/neox"), "model.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("corrupt"), "\(error)")
        }
        let blobs = FileSystem.listFiles(in: "\(cache)/models--tiny--neox/blobs").filter { !$0.hasSuffix(".lock") }
        XCTAssertEqual(blobs, [])
        XCTAssertNil(HubCache(root: cache).cachedFile(HubRepo(id: "tiny/neox"), "model.safetensors"))
    }

    func testOfflineAndUnreachableErrorsNameWhatIsMissing() throws {
        let cache = try temporaryDirectory(self)
        XCTAssertThrowsError(try ModelSource.resolve("tiny/neox", artifacts: cache, hub: client(cache, offline: true))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("tiny/neox") && text.contains("HF_HUB_OFFLINE"), text)
        }
        let unreachable = HubClient(cache: HubCache(root: cache), endpoint: "http://127.0.0.1:1", console: Console(verbosity: .quiet))
        XCTAssertThrowsError(try ModelSource.resolve("tiny/neox", artifacts: cache, hub: unreachable)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("not in the Hub cache") && text.contains("tiny/neox"), text)
        }
        XCTAssertThrowsError(try ModelSource.resolve("tiny/pickled", artifacts: cache, hub: client(cache))) { error in
            XCTAssertTrue("\(error)".contains("safetensors"), "\(error)")
        }
        XCTAssertThrowsError(try ModelSource.resolve("no/such-repo", artifacts: cache, hub: client(cache))) { error in
            XCTAssertTrue("\(error)".contains("404"), "\(error)")
        }
    }

    func testRepoIdsAndCacheLocation() {
        XCTAssertEqual(HubRepo(parsing: "EleutherAI/pythia-70m-deduped@step3000")?.revision, "step3000")
        XCTAssertEqual(HubRepo(parsing: "EleutherAI/pythia-70m-deduped")?.revision, "main")
        XCTAssertNil(HubRepo(parsing: "./models/x"))
        XCTAssertNil(HubRepo(parsing: "a/b/c"))
        XCTAssertEqual(HubCache.fromEnvironment(artifacts: "/p", environment: [:]).root, "/p/hf_cache/hub")
        XCTAssertEqual(HubCache.fromEnvironment(artifacts: "/p", environment: ["HF_HOME": "/h"]).root, "/h/hub")
    }
}
