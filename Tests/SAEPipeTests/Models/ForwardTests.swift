import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeFormats
import SAEPipeLinalg
import SAEPipeModels
import XCTest

/// Every hook, the logits and token NLL against transformers' own outputs (fixtures).
final class ForwardTests: XCTestCase {
    static let referenceHooks = (0..<2).flatMap { layer in
        [HookSite.attnOut, .mlpOut, .residPost].map { HookPoint(layer: layer, site: $0) }
    }

    func check(model path: String, reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try LanguageModel.load(fixturePath(path))
        let expected = try SafetensorsFile(path: fixturePath(reference))
        let ids = try expected.tensors["input_ids"]!.integers()
        let tokens = TokenBatch(ids: ids.map { Int32($0) }, batch: 2, seqLen: ids.count / 2)
        let result = try model.forward(
            tokens, ForwardRequest(capture: Set(Self.referenceHooks), outputs: [.allLogits, .tokenNLL]))
        var outputs = Dictionary(uniqueKeysWithValues: result.captured.map { ($0.key.description, $0.value) })
        outputs["logits"] = result.allLogits
        outputs["token_nll"] = result.tokenNLL
        XCTAssertEqual(outputs.count, 8, file: file, line: line)
        for (name, actual) in outputs {
            let wanted = try expected.tensors[name]!.floats()
            XCTAssertEqual(actual.count, wanted.count, "\(reference) \(name)", file: file, line: line)
            let difference = zip(actual, wanted).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(difference, 1e-4, "\(reference) \(name): max |Δ| = \(difference)", file: file, line: line)
        }
    }

    func testGPTNeoXParallelResidual() throws {
        try check(model: "tiny-neox", reference: "tiny-neox/reference.safetensors")
    }

    func testGPTNeoXHalfPrecisionWithLegacyBuffers() throws {
        try check(model: "tiny-neox-f16", reference: "tiny-neox-f16/reference.safetensors")
    }

    func testGPTNeoXSequentialResidual() throws {
        try check(model: "tiny-neox-sequential", reference: "tiny-neox-sequential/reference.safetensors")
    }

    func testLlamaSafetensors() throws {
        try check(model: "tiny-llama", reference: "tiny-llama/reference.safetensors")
    }

    func testLlamaGGUFEveryQuantization() throws {
        for type in ["f32", "f16", "q8_0", "q4_0", "q4_1"] {
            try check(model: "tiny-llama/model-\(type).gguf", reference: "tiny-llama/reference-\(type).safetensors")
        }
    }

    /// Collecting layer 0 loads one layer and no unembedding, and still matches the full pass.
    /// Forward passes split sequences over their own threads with single-threaded GEMMs; two at
    /// once must each use the threads they asked for and leave the process's BLAS count alone.
    func testConcurrentForwardPassesKeepTheirOwnThreadCounts() throws {
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        BLAS.threads = 2
        var generator = SplitMix64(seed: 9)
        let tokens = TokenBatch(ids: (0..<(8 * 16)).map { _ in Int32(generator.next() % 512) }, batch: 8, seqLen: 16)
        let hook = HookPoint(layer: 1, site: .mlpOut)
        let reference = try model.forward(tokens, ForwardRequest(capture: [hook], threads: 1)).captured[hook]!
        let lock = NSLock()
        nonisolated(unsafe) var seen: [(asked: Int, groups: Int, values: [Float])] = []
        DispatchQueue.concurrentPerform(iterations: 12) { index in
            let asked = [4, 1, 3][index % 3]
            let result = try! model.forward(tokens, ForwardRequest(capture: [hook], threads: asked))
            lock.lock()
            seen.append((asked, result.groups, result.captured[hook]!))
            lock.unlock()
        }
        XCTAssertEqual(seen.count, 12)
        for pass in seen {
            XCTAssertEqual(pass.groups, pass.asked, "a pass runs as many groups as it asked for")
            XCTAssertEqual(zip(pass.values, reference).map { abs($0 - $1) }.max() ?? 1, 0, accuracy: 1e-5)
        }
        XCTAssertEqual(BLAS.threads, 2, "the configured count is unchanged")
        XCTAssertEqual(BLAS.activeThreads, 2, "OpenBLAS is back at the configured count")
    }

    func testPartialLoadStopsAtTheDeepestHook() throws {
        for path in ["tiny-neox", "tiny-llama/model-q8_0.gguf"] {
            let full = try LanguageModel.load(fixturePath(path))
            let partial = try LanguageModel.load(fixturePath(path), scope: .through(HookPoint(layer: 0, site: .mlpOut)))
            let tokens = TokenBatch(ids: (0..<24).map { Int32($0 * 7 % 512) }, batch: 2, seqLen: 12)
            let hook = HookPoint(layer: 0, site: .mlpOut)
            let expected = try full.forward(tokens, ForwardRequest(capture: [hook], outputs: [.tokenNLL]))
            let actual = try partial.forward(tokens, ForwardRequest(capture: [hook]))
            XCTAssertEqual(actual.captured[hook], expected.captured[hook], path)
            XCTAssertNil(actual.tokenNLL)
            XCTAssertThrowsError(try partial.forward(tokens, ForwardRequest(outputs: [.tokenNLL])))
        }
    }

    /// Splicing: the identity leaves the pass unchanged, zeros change it; resuming from a
    /// captured resid_pre reproduces the full pass.
    func testInterventionAndResume() throws {
        let model = try LanguageModel.load(fixturePath("tiny-llama"))
        let tokens = TokenBatch(ids: (0..<32).map { Int32($0 * 13 % 512) }, batch: 2, seqLen: 16)
        let hook = HookPoint(layer: 1, site: .mlpOut)
        let clean = try model.forward(tokens, ForwardRequest(capture: [HookPoint(layer: 1, site: .residPre)],
                                                             outputs: [.tokenNLL, .lastLogits]))
        let identity = try model.forward(
            tokens, ForwardRequest(intervene: [hook], intervention: { _, _, _ in }, outputs: [.tokenNLL]))
        XCTAssertEqual(identity.tokenNLL, clean.tokenNLL)
        let zeroed = try model.forward(
            tokens,
            ForwardRequest(intervene: [hook], intervention: { _, _, buffer in buffer.update(repeating: 0) },
                           outputs: [.tokenNLL]))
        XCTAssertNotEqual(zeroed.tokenNLL, clean.tokenNLL)
        let resumed = try model.forward(
            tokens, ForwardRequest(outputs: [.tokenNLL, .lastLogits], startLayer: 1,
                                   startResidual: clean.captured[HookPoint(layer: 1, site: .residPre)]))
        XCTAssertEqual(resumed.tokenNLL, clean.tokenNLL)
        XCTAssertEqual(resumed.lastLogits, clean.lastLogits)
        XCTAssertEqual(clean.lastLogits?.count, 2 * 512)
    }

    func testHookNamesAndAliases() throws {
        XCTAssertEqual(try HookPoint(parsing: "layers.3.mlp_out"), HookPoint(layer: 3, site: .mlpOut))
        XCTAssertEqual(try HookPoint(parsing: "blocks.3.hook_resid_post"), HookPoint(layer: 3, site: .residPost))
        XCTAssertEqual(HookSite(stream: "mlp_output"), .mlpOut)
        XCTAssertThrowsError(try HookPoint(parsing: "layers.3.hook_mlp_out"))
        XCTAssertThrowsError(try HookPoint(parsing: "blocks.x.hook_mlp_out"))
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let tokens = TokenBatch(ids: [1, 2, 3, 4], batch: 1, seqLen: 4)
        XCTAssertThrowsError(try model.forward(tokens, ForwardRequest(capture: [HookPoint(layer: 2, site: .mlpOut)])))
        XCTAssertThrowsError(try model.forward(TokenBatch(ids: [600], batch: 1, seqLen: 1), ForwardRequest(outputs: [.lastLogits])))
    }

    /// transformers ≥ 4.56 writes `rope_parameters` instead of `rotary_pct`/`rotary_emb_base`.
    func testNewerRopeParametersConfigGivesTheSameModel() throws {
        let directory = try temporaryDirectory(self)
        let source = fixturePath("tiny-neox")
        try FileManager.default.copyItem(atPath: "\(source)/model.safetensors", toPath: "\(directory)/model.safetensors")
        var config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(source)/config.json"))) as! [String: Any]
        config["rotary_pct"] = nil
        config["rotary_emb_base"] = nil
        config["rope_parameters"] = ["rope_type": "default", "rope_theta": 10000, "partial_rotary_factor": 0.25]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(directory)/config.json"))
        let tokens = TokenBatch(ids: (0..<32).map { Int32($0 * 11 % 512) }, batch: 2, seqLen: 16)
        let request = ForwardRequest(outputs: [.tokenNLL])
        XCTAssertEqual(try LanguageModel.load(directory).forward(tokens, request).tokenNLL,
                       try LanguageModel.load(source).forward(tokens, request).tokenNLL)
        config["rope_parameters"] = ["rope_type": "default", "rope_theta": 500, "partial_rotary_factor": 0.5]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(directory)/config.json"))
        XCTAssertNotEqual(try LanguageModel.load(directory).forward(tokens, request).tokenNLL,
                          try LanguageModel.load(source).forward(tokens, request).tokenNLL)
    }

    func testUnsupportedConfigsNameTheKey() throws {
        let directory = try temporaryDirectory(self)
        let source = fixturePath("tiny-neox")
        for name in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(directory)/\(name)")
        }
        var config = try String(contentsOfFile: "\(source)/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"hidden_act\": \"gelu\"", with: "\"hidden_act\": \"relu\"")
        try write(config, to: "\(directory)/config.json")
        XCTAssertThrowsError(try LanguageModel.load(directory)) { error in
            let error = error as! SAEPipeError
            XCTAssertEqual(error.kind, .input)
            XCTAssertEqual(error.keyPath, "hidden_act")
            XCTAssertEqual(error.file, "\(directory)/config.json")
        }
    }

    /// `saepipe forward`'s file: the tensor names and shapes docs/formats.md fixes, values equal to
    /// the reference, whatever the chunking.
    func testForwardExportWritesTheContractTensors() throws {
        let directory = try temporaryDirectory(self)
        let expected = try SafetensorsFile(path: fixturePath("tiny-neox/reference.safetensors"))
        let ids = try expected.tensors["input_ids"]!.integers()
        let sequences = [Array(ids[0..<16]), Array(ids[16..<32])]
        let json = "[" + sequences.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
        try write(json, to: "\(directory)/ids.json")
        let tokens = try ForwardExport.readIds("\(directory)/ids.json")
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        _ = try ForwardExport.run(model: model, tokens: tokens, hooks: ["layers.1.mlp_out", "blocks.0.hook_resid_post"],
                                  batchSize: 1, to: "\(directory)/out.safetensors", console: Console(verbosity: .quiet))
        let written = try SafetensorsFile(path: "\(directory)/out.safetensors")
        XCTAssertEqual(Set(written.tensors.keys),
                       ["input_ids", "layers.1.mlp_out", "blocks.0.hook_resid_post", "last_logits", "token_nll"])
        XCTAssertEqual(written.tensors["input_ids"]!.type, .i32)
        XCTAssertEqual(try written.tensors["input_ids"]!.integers(), ids)
        XCTAssertEqual(written.tensors["layers.1.mlp_out"]!.shape, [2, 16, 64])
        XCTAssertEqual(written.tensors["last_logits"]!.shape, [2, 512])
        XCTAssertEqual(written.tensors["token_nll"]!.shape, [2, 15])
        let logits = try expected.tensors["logits"]!.floats()
        let lastExpected = Array(logits[(15 * 512)..<(16 * 512)]) + Array(logits[(31 * 512)..<(32 * 512)])
        for (name, wanted) in [("last_logits", lastExpected), ("token_nll", try expected.tensors["token_nll"]!.floats()),
                               ("layers.1.mlp_out", try expected.tensors["layers.1.mlp_out"]!.floats()),
                               ("blocks.0.hook_resid_post", try expected.tensors["layers.0.resid_post"]!.floats())] {
            let actual = try written.tensors[name]!.floats()
            XCTAssertLessThanOrEqual(zip(actual, wanted).map { abs($0 - $1) }.max()!, 1e-4, name)
        }
        try write("[[1, 2], [3]]", to: "\(directory)/ragged.json")
        XCTAssertThrowsError(try ForwardExport.readIds("\(directory)/ragged.json")) { error in
            XCTAssertEqual((error as? SAEPipeError)?.file, "\(directory)/ragged.json")
        }
        XCTAssertThrowsError(try ForwardExport.checkVocabulary(TokenBatch(ids: [1, 512], batch: 1, seqLen: 2), vocabSize: 512, file: "ids.json"))
    }
}
