import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import SAEPipe
import SAEPipeCore
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE
import SAEPipeServe
import XCTest

/// `saepipe serve`'s API on the tiny project: per-token features against a direct model and
/// SAE pass, the error codes, and a live server answering concurrent requests.
final class ServeTests: XCTestCase {
    static let settings = ["sae.expansion=2", "train.tokens=3000", "train.batch_size=100", "train.lr_warmup_steps=2", "eval.sequences=3"]

    func finishedRun() throws -> (directory: String, run: String) {
        let (directory, config) = try makeTinyProject(self)
        _ = try runTinyProject(config, until: nil, overrides: Self.settings)
        return (directory, "\(directory)/outputs/tiny")
    }

    func json(_ reply: FeatureService.Reply) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: reply.body) as? [String: Any], String(decoding: reply.body, as: UTF8.self))
    }

    func testActivationsMatchADirectPassAndBadInputGetsAnError() throws {
        let (directory, run) = try finishedRun()
        let probe = try ActivationProbe(runDirectory: run, artifacts: "\(directory)/artifacts")
        let service = try FeatureService(runDirectory: run, probe: probe)
        let text = "the cat sat on the mat"
        let reply = service.activations(body: try JSONSerialization.data(withJSONObject: ["text": text]))
        XCTAssertEqual(reply.status, 200, String(decoding: reply.body, as: UTF8.self))
        let result = try JSONDecoder().decode(ActivationProbe.Result.self, from: reply.body)
        let ids = probe.tokenizer.encode(text)
        XCTAssertEqual(result.tokens, ids.map { probe.tokenizer.decode([$0]) })
        // The same tokens through the model and each SAE, every feature's activation kept.
        let hook = probe.hook
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let captured = try model.forward(TokenBatch(ids: ids.map(Int32.init), batch: 1, seqLen: ids.count), ForwardRequest(capture: [hook])).captured[hook]!
        let manifest = try RunManifest.read(runDirectory: run)
        for side in ["A", "B"] {
            let (p, activation) = try SAECheckpoint.readSAELens(manifest.entries("saes")[side]!)
            let workspace = SAEWorkspace(batch: ids.count, d: p.d, features: p.features)
            _ = captured.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: ids.count, activation: activation, form: .unitNormDecoder, workspace: workspace) }
            let values = workspace.activations
            for t in 0..<ids.count {
                let listed = result.features[t].filter { $0.sae == side }
                let expected = (0..<p.features).filter { values[t * p.features + $0] > 0 }
                    .sorted { values[t * p.features + $0] > values[t * p.features + $1] }.prefix(10)
                XCTAssertEqual(listed.map(\.feature), Array(expected), "SAE \(side), token \(t)")
                for entry in listed { XCTAssertEqual(entry.activation, Double(values[t * p.features + entry.feature]), accuracy: 1e-3) }
            }
        }
        XCTAssertTrue(result.features.contains { !$0.isEmpty })

        func status(_ body: Data) -> Int { service.activations(body: body).status }
        XCTAssertEqual(status(Data("{\"text\": \"  \"}".utf8)), 400, "empty text")
        XCTAssertEqual(status(Data("not json".utf8)), 400)
        XCTAssertEqual(status(Data([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, "invalid UTF-8")
        XCTAssertTrue(try json(service.activations(body: Data([0x22, 0xff, 0x22]))).description.contains("UTF-8"))
        let long = try JSONSerialization.data(withJSONObject: ["text": String(repeating: "the cat ", count: 50)])
        XCTAssertEqual(status(long), 413, "more tokens than the SAEs' windows")
        XCTAssertTrue((try json(service.activations(body: long))["error"] as! String).contains("limit is \(probe.maxTokens)"))
        XCTAssertEqual(status(Data(repeating: 0x20, count: FeatureService.maxRequestBytes + 1)), 413)

        // Features: the store's record with the summary's numbers; unknown ones are 404.
        let page = service.feature(sae: "B", id: "5")
        XCTAssertEqual(page.status, 200)
        let record = try JSONDecoder().decode(FeatureStore.Record.self, from: JSONSerialization.data(withJSONObject: try json(page)["record"]!))
        XCTAssertEqual(record, try FeatureStore.Reader(path: "\(run)/features/B.features").record(5))
        XCTAssertEqual((try json(page)["matched"] as? [String: Any])?["feature"] as? Int, 5)
        for (sae, id) in [("C", "1"), ("A", "128"), ("A", "-1"), ("A", "x")] {
            XCTAssertEqual(service.feature(sae: sae, id: id).status, 404, "\(sae)/\(id)")
        }
    }

    func testLiveServerAnswersConcurrentRequests() async throws {
        let (directory, run) = try finishedRun()
        let probe = try ActivationProbe(runDirectory: run, artifacts: "\(directory)/artifacts")
        let service = try FeatureService(runDirectory: run, probe: probe)
        let browser = "\(directory)/browser"
        try FileSystem.createDirectory(browser)
        try FeatureBrowserBundle.write(runDirectory: run, manifest: try RunManifest.read(runDirectory: run), results: try EvalResults.read(runDirectory: run),
                                       tokenizer: probe.tokenizer, to: browser)
        let (port, server) = try await startServer(service: service, browser: browser)
        defer { server.cancel() }
        let base = "http://127.0.0.1:\(port)"
        func request(_ path: String, body: String? = nil) async throws -> (Int, Data) {
            var request = URLRequest(url: URL(string: base + path)!)
            if let body { request.httpMethod = "POST"; request.httpBody = Data(body.utf8) }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, data)
        }
        let (indexStatus, page) = try await request("/")
        XCTAssertEqual(indexStatus, 200)
        XCTAssertTrue(String(decoding: page, as: UTF8.self).contains("browser.js"))
        let shardStatus = try await request("/data/A/0001.js").0
        XCTAssertEqual(shardStatus, 200)
        let texts = ["the cat sat", "a dog ran on the mat", "the mat", "cat on a dog", "sat sat sat", "the the"]
        let replies = try await withThrowingTaskGroup(of: (String, Int, Data).self) { group in
            for text in texts { group.addTask { let (s, d) = try await request("/api/activations", body: "{\"text\": \"\(text)\"}"); return (text, s, d) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (text, statusCode, data) in replies {
            XCTAssertEqual(statusCode, 200, text)
            let result = try JSONDecoder().decode(ActivationProbe.Result.self, from: data)
            XCTAssertEqual(result, try probe.run(text), "each concurrent reply is its own text's")
        }
        let checks: [(String, String?, Int)] = [
            ("/api/activations", "{}", 400), ("/api/activations", String(repeating: "x", count: FeatureService.maxRequestBytes + 10), 413),
            ("/api/features/A/3", nil, 200), ("/api/features/A/4000", nil, 404), ("/api/unknown", nil, 404),
        ]
        for (path, body, expected) in checks {
            let statusCode = try await request(path, body: body).0
            XCTAssertEqual(statusCode, expected, path)
        }
    }
}

/// Starts `FeatureServer` on a free loopback port; cancelling the task stops it.
func startServer(service: FeatureService, browser: String) async throws -> (port: Int, task: Task<Void, Error>) {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = FeatureServer.application(service: service, browser: browser, host: "127.0.0.1", port: 0, logger: Logger(label: "test")) { port in
        continuation.yield(port)
    }
    let server = Task { try await app.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        server.cancel()
        throw SAEPipeError.runtime("the test server did not start")
    }
    return (port, server)
}
