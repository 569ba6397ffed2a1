import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeFormats
import SAEPipeModels

/// One parser of untrusted bytes, as the fuzz targets in Fuzz/ drive it and the regression
/// tests replay it. A target may throw (the parser refusing bad input, as it should); only a
/// crash, a hang or runaway memory is a finding.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable (UnsafeRawBufferPointer) throws -> Void

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    public static let all: [FuzzTarget] = [gguf, safetensors, parquet, tokenizer, config, modelConfig]

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
}
