import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeFormats
import SAEPipeModels
import SAEPipeSAE

/// One parser of untrusted bytes, as the fuzz targets in Fuzz/ drive it and the regression
/// tests replay it. A target may throw (the parser refusing bad input, as it should); only a
/// crash, a hang or runaway memory is a finding.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable (UnsafeRawBufferPointer) throws -> Void

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    public static let all: [FuzzTarget] = [gguf, safetensors, parquet, tokenizer, config, modelConfig, saeImport, featureStore]

    /// Reads small tensors in full so dequantization sees the crafted bytes too.
    static func touch(_ tensor: TensorView) throws {
        if tensor.byteCount <= 1 << 16 { _ = try tensor.floats() }
    }

    static let gguf = FuzzTarget(name: "gguf", summary: "GGUF header, metadata, tensor table, tokenizer and llama config") { bytes in
        let file = try GGUFFile(file: MappedFile(copying: bytes, path: "fuzz.gguf"))
        for name in file.tensorNames { try? touch(file.tensor(name)) }
        _ = try? Tokenizer.load(gguf: file).encode("Hello, world!\n  def f(x): return 1")
        _ = try LlamaConfiguration(gguf: file)
    }

    static let safetensors = FuzzTarget(name: "safetensors", summary: "safetensors header and tensor ranges") { bytes in
        let file = try SafetensorsFile(file: MappedFile(copying: bytes, path: "fuzz.safetensors"))
        for tensor in file.tensors.values { try touch(tensor) }
    }

    static let parquet = FuzzTarget(name: "parquet", summary: "Parquet footer, Thrift metadata, pages and codecs") { bytes in
        let file = try ParquetFile(file: MappedFile(copying: bytes, path: "fuzz.parquet"))
        for column in file.columns {
            for group in file.rowGroupSizes.indices { _ = try? file.read(column: column.name, rowGroup: group) }
        }
    }

    static let tokenizer = FuzzTarget(name: "tokenizer", summary: "tokenizer.json (byte-level BPE)") { bytes in
        let tokenizer = try Tokenizer.load(tokenizerJSON: Data(bytes), path: "tokenizer.json")
        let ids = tokenizer.encode("Hello, world!\n  def f(x): return 1 <|endoftext|> é中")
        _ = tokenizer.decode(ids + [-1, 1 << 40])
    }

    static let config = FuzzTarget(name: "config", summary: "YAML/JSON experiment config through schema validation") { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let node = try YAMLParser.parse(text, sourceName: "fuzz.yaml")
        let resolved = try ConfigLoader(schema: ExperimentSchema.schema).resolve(node, path: "fuzz.yaml", files: ["fuzz.yaml"])
        _ = try Experiment.make(config: resolved, stages: PipelineStages.stages(for:))
    }

    static let modelConfig = FuzzTarget(name: "modelconfig", summary: "model config.json (GPT-NeoX and Llama)") { bytes in
        let data = Data(bytes)
        _ = try? JSONDecoder().decode(GPTNeoXConfiguration.self, from: data)
        _ = try? JSONDecoder().decode(LlamaConfiguration.self, from: data)
    }

    /// cfg.json, a NUL byte, then sae_weights.safetensors (without the NUL, only a cfg.json
    /// checked against a small valid weights file).
    static let saeImport = FuzzTarget(name: "saeimport", summary: "SAELens cfg.json and weights for sae.load") { bytes in
        let split = bytes.firstIndex(of: 0)
        let config = Data(bytes[..<(split ?? bytes.endIndex)])
        let weights = try split.map { try SafetensorsFile(file: MappedFile(copying: UnsafeRawBufferPointer(rebasing: bytes[($0 + 1)...]), path: "w")) }
            ?? smallWeights()
        let imported = try SAELensImport.decode(config: config, weights: weights, configPath: "cfg.json", weightsPath: "w")
        var x = [Float](repeating: 0.5, count: imported.parameters.d)
        _ = x.withUnsafeMutableBufferPointer {
            SAEMath.reconstructInPlace(imported.parameters, activation: imported.activation, $0.baseAddress!, rows: 1)
        }
    }

    /// interpret's feature store: the record index, zstd frames and each record's JSON.
    static let featureStore = FuzzTarget(name: "featurestore", summary: "feature store: record index, zstd frames, records") { bytes in
        let store = try FeatureStore.Reader(bytes: Data(bytes), path: "fuzz.features")
        for index in 0..<min(store.features, 64) { _ = try? store.record(index) }
    }

    /// A standard SAE with d_in 4 and d_sae 8 (and a threshold), for cfg.json-only inputs.
    static func smallWeights() throws -> SafetensorsFile {
        var writer = SafetensorsWriter()
        writer.add("W_enc", float32: [Float](repeating: 0.1, count: 32), shape: [4, 8])
        writer.add("W_dec", float32: [Float](repeating: 0.1, count: 32), shape: [8, 4])
        writer.add("b_enc", float32: [Float](repeating: 0, count: 8), shape: [8])
        writer.add("b_dec", float32: [Float](repeating: 0, count: 4), shape: [4])
        writer.add("threshold", float32: [Float](repeating: 0.01, count: 8), shape: [8])
        let data = try writer.serialized()
        return try data.withUnsafeBytes { try SafetensorsFile(file: MappedFile(copying: $0, path: "w")) }
    }
}
