import Foundation
import SAEPipeCore
import SAEPipeFormats

/// Named tensors from a safetensors model directory or a GGUF file.
public protocol WeightSource: Sendable {
    var tensors: [String: TensorView] { get }
    /// Shown in errors: the directory or file the weights come from.
    var location: String { get }
}

extension SafetensorsWeights: WeightSource {}

extension GGUFFile: WeightSource {
    public var location: String { path }
}

extension WeightSource {
    func view(_ name: String, shape: [Int]) throws -> TensorView {
        guard let tensor = tensors[name] else {
            throw SAEPipeError.input(
                "the weights have no tensor \(name)", file: location,
                hint: "the file does not match the architecture its config names; re-download or re-convert it")
        }
        guard tensor.shape == shape else {
            throw SAEPipeError.input(
                "tensor \(name) has shape \(tensor.shape), the config implies \(shape)", file: location,
                hint: "the weights and config.json/metadata disagree; re-download both from the same revision")
        }
        guard tensor.type.isFloatingPoint else {
            throw SAEPipeError.input("tensor \(name) is \(tensor.type), not a floating-point type", file: location)
        }
        return tensor
    }

    /// A tensor decoded to float32, its shape checked against what the config implies.
    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        try view(name, shape: shape).floats()
    }

    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool) throws -> Linear {
        Linear(
            weight: try floats("\(name).weight", shape: [out, inFeatures]),
            bias: bias ? try floats("\(name).bias", shape: [out]) : nil, outFeatures: out, inFeatures: inFeatures)
    }

    /// Learned weights: floating-point tensors other than the rotary tables and attention
    /// masks that old checkpoints carry as buffers.
    var parameters: [TensorView] {
        tensors.values.filter { $0.type.isFloatingPoint && !$0.name.contains("rotary_emb") && !$0.name.hasSuffix("masked_bias") }
    }

    /// Element types of the weights with their tensor counts (for `model info`).
    var typeCounts: [(type: String, count: Int)] {
        var counts: [String: Int] = [:]
        for tensor in parameters { counts["\(tensor.type)", default: 0] += 1 }
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, $0.value) }
    }
}

extension SafetensorsWeights {
    public var location: String { directory }
}

/// A token-embedding table read row by row from the mapped file, so lookups never
/// decode the whole (possibly quantized) matrix.
public struct EmbeddingTable: Sendable {
    public let view: TensorView
    public let vocabSize: Int
    public let width: Int
    let rowBytes: Int

    init(_ view: TensorView, vocabSize: Int, width: Int) throws {
        guard let rowBytes = view.type.byteCount(elements: width) else {
            throw SAEPipeError.input(
                "embedding rows of \(width) values do not fill whole \(view.type) blocks", file: view.file.path)
        }
        self.view = view
        self.vocabSize = vocabSize
        self.width = width
        self.rowBytes = rowBytes
    }

    /// Writes the embedding of each id into consecutive rows of `out`.
    func lookup(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        for (row, id) in ids.enumerated() {
            guard id >= 0, Int(id) < vocabSize else {
                throw SAEPipeError.input("token id \(id) is outside the vocabulary (0..<\(vocabSize))",
                                         hint: "tokenize with this model's tokenizer")
            }
            try Dequantize.toFloat(
                view.type, source: view.file.bytes + view.offset + Int(id) * rowBytes, count: width,
                into: out + row * width)
        }
    }

    /// The whole table as an unembedding (tied embeddings).
    func asLinear() throws -> Linear {
        Linear(weight: try view.floats(), bias: nil, outFeatures: vocabSize, inFeatures: width)
    }
}
