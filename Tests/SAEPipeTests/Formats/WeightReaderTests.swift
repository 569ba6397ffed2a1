import Foundation
import SAEPipeCore
import SAEPipeFormats
import SAEPipeModels
import XCTest

final class WeightReaderTests: XCTestCase {
    func testSafetensorsReadsF32F16AndLegacyBuffers() throws {
        let f32 = try SafetensorsWeights(directory: fixturePath("tiny-neox"))
        let f16 = try SafetensorsWeights(directory: fixturePath("tiny-neox-f16"))
        let qkv = try f32.tensor("gpt_neox.layers.0.attention.query_key_value.weight")
        XCTAssertEqual(qkv.shape, [192, 64])
        XCTAssertEqual(qkv.type, .f32)
        let half = try f16.tensor("gpt_neox.embed_in.weight")
        XCTAssertEqual(half.type, .f16)
        XCTAssertEqual(half.shape, [512, 64])
        XCTAssertEqual(try f16.tensor("gpt_neox.layers.0.attention.bias").type, .bool)
        XCTAssertEqual(try f16.tensor("gpt_neox.layers.0.attention.masked_bias").shape, [])
        XCTAssertEqual(try half.floats().count, 512 * 64)
        let reference = try SafetensorsFile(path: fixturePath("tiny-llama/reference.safetensors"))
        XCTAssertEqual(try reference.tensors["input_ids"]!.integers().count, 32)
    }

    func testHalfAndBFloat16BitPatterns() throws {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555]
        var out = [Float](repeating: 0, count: halves.count)
        try halves.withUnsafeBytes { raw in
            try Dequantize.toFloat(.f16, source: raw.baseAddress!, count: halves.count, into: &out)
        }
        XCTAssertEqual(out, [1, -2, 65504, 5.9604645e-8, -0.0, 0.33325195])
        let brains: [UInt16] = [0x3F80, 0xC0A0, 0x7F80]
        var wide = [Float](repeating: 0, count: 3)
        try brains.withUnsafeBytes { raw in
            try Dequantize.toFloat(.bf16, source: raw.baseAddress!, count: 3, into: &wide)
        }
        XCTAssertEqual(wide, [1, -5, .infinity])
    }

    func testCorruptSafetensorsHeadersAreRefused() throws {
        let directory = try temporaryDirectory(self)
        func file(header: String, data: Int) throws -> String {
            var bytes = Data()
            var length = UInt64(header.utf8.count).littleEndian
            bytes.append(Data(bytes: &length, count: 8))
            bytes.append(Data(header.utf8))
            bytes.append(Data(count: data))
            let path = "\(directory)/\(UUID().uuidString).safetensors"
            try bytes.write(to: URL(fileURLWithPath: path))
            return path
        }
        let cases = [
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8, "outside"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 16, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs"),
            (#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#, 8, "unsupported dtype"),
            (#"[1,2]"#, 0, "not a JSON object"),
        ]
        for (header, size, expected) in cases {
            XCTAssertThrowsError(try SafetensorsFile(path: try file(header: header, data: size))) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
                XCTAssertEqual((error as? SAEPipeError)?.exitCode, 2)
            }
        }
        // A header length beyond the file.
        let path = "\(directory)/short.safetensors"
        var huge = UInt64(1 << 40).littleEndian
        try Data(bytes: &huge, count: 8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsFile(path: path))
    }

    func testPickledCheckpointsAreRefusedNamingSafetensors() throws {
        let directory = try temporaryDirectory(self)
        try write("not really a pickle", to: "\(directory)/pytorch_model.bin")
        XCTAssertThrowsError(try SafetensorsWeights(directory: directory)) { error in
            let error = error as! SAEPipeError
            XCTAssertTrue(error.message.contains("never loads"), error.message)
            XCTAssertTrue(error.hint!.contains("safetensors"))
            XCTAssertEqual(error.exitCode, 2)
        }
    }

    func testShardedSafetensorsIndex() throws {
        let directory = try temporaryDirectory(self)
        let source = try SafetensorsFile(path: fixturePath("tiny-llama/model.safetensors"))
        // Split the tiny model into two shards by hand and index them.
        let names = source.tensors.keys.sorted()
        var weightMap: [String: String] = [:]
        for (shardIndex, shardNames) in [Array(names.prefix(7)), Array(names.dropFirst(7))].enumerated() {
            let shard = "model-0000\(shardIndex + 1)-of-00002.safetensors"
            var header: [String: Any] = [:]
            var blob = Data()
            for name in shardNames {
                let tensor = source.tensors[name]!
                header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [blob.count, blob.count + tensor.byteCount]]
                blob.append(Data(bytes: tensor.file.bytes + tensor.offset, count: tensor.byteCount))
                weightMap[name] = shard
            }
            let headerData = try JSONSerialization.data(withJSONObject: header)
            var length = UInt64(headerData.count).littleEndian
            var bytes = Data(bytes: &length, count: 8)
            bytes.append(headerData)
            bytes.append(blob)
            try bytes.write(to: URL(fileURLWithPath: "\(directory)/\(shard)"))
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": weightMap])
        try index.write(to: URL(fileURLWithPath: "\(directory)/model.safetensors.index.json"))
        let sharded = try SafetensorsWeights(directory: directory)
        XCTAssertEqual(Set(sharded.tensors.keys), Set(names))
        for name in names {
            XCTAssertEqual(try sharded.tensor(name).floats(), try source.tensors[name]!.floats(), name)
        }
    }

    func testGGUFMetadataAndTensorInfos() throws {
        let gguf = try GGUFFile(path: fixturePath("tiny-llama/model-q8_0.gguf"))
        XCTAssertEqual(gguf.version, 3)
        XCTAssertEqual(gguf.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(gguf.metadata["llama.block_count"]?.int, 2)
        XCTAssertEqual(gguf.metadata["llama.attention.head_count_kv"]?.int, 2)
        XCTAssertEqual(gguf.metadata["tokenizer.ggml.tokens"]?.array?.count, 512)
        XCTAssertEqual(try gguf.tensor("token_embd.weight").shape, [512, 64])
        XCTAssertEqual(try gguf.tensor("token_embd.weight").type, .q8_0)
        XCTAssertEqual(try gguf.tensor("output_norm.weight").type, .f32)

        let tokenizer = try GGUFFile(path: fixturePath("smollm2-tokenizer/tokenizer.gguf"))
        XCTAssertEqual(tokenizer.metadata["tokenizer.ggml.model"]?.string, "gpt2")
        XCTAssertEqual(tokenizer.metadata["tokenizer.ggml.pre"]?.string, "smollm")
        XCTAssertEqual(tokenizer.metadata["tokenizer.ggml.tokens"]?.array?.count, 49152)
    }

    /// Every type's dequantization matches gguf-py's (`gguf.quants.dequantize`) exactly.
    func testGGUFDequantizationMatchesGGUFPy() throws {
        let reference = try SafetensorsFile(path: fixturePath("gguf-dequant/reference.safetensors"))
        var checked = 0
        for quant in ["f32", "f16", "q8_0", "q4_0", "q4_1"] {
            let gguf = try GGUFFile(path: fixturePath("tiny-llama/model-\(quant).gguf"))
            for (key, expected) in reference.tensors where key.hasPrefix(quant + "/") {
                let name = String(key.dropFirst(quant.count + 1))
                let tensor = try gguf.tensor(name)
                XCTAssertEqual(tensor.shape, expected.shape, key)
                let ours = try tensor.floats()
                let theirs = try expected.floats()
                let worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
                XCTAssertEqual(worst, 0, "\(key) differs by up to \(worst)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 20)
    }

    func testGGUFF32MatchesTheSafetensorsWeights() throws {
        let gguf = try GGUFFile(path: fixturePath("tiny-llama/model-f32.gguf"))
        let hf = try SafetensorsWeights(directory: fixturePath("tiny-llama"))
        XCTAssertEqual(try gguf.tensor("token_embd.weight").floats(), try hf.tensor("model.embed_tokens.weight").floats())
        XCTAssertEqual(try gguf.tensor("blk.1.ffn_down.weight").floats(), try hf.tensor("model.layers.1.mlp.down_proj.weight").floats())
    }

    func testNotAGGUFFile() throws {
        XCTAssertThrowsError(try GGUFFile(path: fixturePath("tiny-neox/config.json"))) { error in
            XCTAssertTrue("\(error)".contains("bad magic"))
        }
        let directory = try temporaryDirectory(self)
        let truncated = "\(directory)/cut.gguf"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixturePath("tiny-llama/model-q4_0.gguf")))
        try bytes.prefix(5000).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try GGUFFile(path: truncated)) { error in
            XCTAssertEqual((error as? SAEPipeError)?.exitCode, 2)
        }
    }
}
