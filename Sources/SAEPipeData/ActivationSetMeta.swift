import Foundation
import SAEPipeCore

/// `meta.json` of an activation set (docs/formats.md): what `acts.mmap`, `tokens.mmap` and
/// `positions.mmap` hold and where they came from. Written by collect; read by training,
/// evaluation and interpretation.
public struct ActivationSetMeta: Codable, Sendable, Equatable {
    public static let fileName = "meta.json"
    public static let formatName = "saepipe-activations/1"

    /// A companion array file: its name, element type and shape.
    public struct ArrayFile: Codable, Sendable, Equatable {
        public var file: String
        public var dtype: String
        public var shape: [Int]
        /// Only positions.mmap says what its values mean.
        public var meaning: String?

        public init(file: String, dtype: String, shape: [Int], meaning: String? = nil) {
            (self.file, self.dtype, self.shape, self.meaning) = (file, dtype, shape, meaning)
        }
    }

    /// Where the rows came from; absent for synthetic sets (benchmarks), which have no windows.
    public struct Provenance: Codable, Sendable, Equatable {
        public var model: String
        @EncodedAsNull public var modelRevision: String?
        public var modelArchitecture: String
        public var hook: String
        public var layer: Int
        @EncodedAsNull public var stream: String?
        /// The `datasets.<side>` config section (without its display label).
        public var dataset: ConfigValue
        public var datasetFiles: [String]
        public var documentsRead: Int
        public var documents: String
        public var excludeSpecial: Bool
        public var tokenizerHash: String
        public var configHash: String
        public var seed: UInt64

        public init(
            model: String, modelRevision: String?, modelArchitecture: String, hook: String, layer: Int, stream: String?,
            dataset: ConfigValue, datasetFiles: [String], documentsRead: Int, documents: String, excludeSpecial: Bool,
            tokenizerHash: String, configHash: String, seed: UInt64
        ) {
            self.model = model
            self.modelRevision = modelRevision
            self.modelArchitecture = modelArchitecture
            self.hook = hook
            self.layer = layer
            self.stream = stream
            self.dataset = dataset
            self.datasetFiles = datasetFiles
            self.documentsRead = documentsRead
            self.documents = documents
            self.excludeSpecial = excludeSpecial
            self.tokenizerHash = tokenizerHash
            self.configHash = configHash
            self.seed = seed
        }

        /// The dataset's local path or Hub id, for checkpoint provenance.
        public var datasetSource: String { dataset["path"].stringValue ?? dataset["hub"].stringValue ?? "" }

        enum CodingKeys: String, CodingKey {
            case model, modelRevision = "model_revision", modelArchitecture = "model_architecture", hook, layer, stream, dataset
            case datasetFiles = "dataset_files", documentsRead = "documents_read", documents, excludeSpecial = "exclude_special"
            case tokenizerHash = "tokenizer_hash", configHash = "config_hash", seed
        }
    }

    /// The token windows the rows were read from.
    public struct Windows: Codable, Sendable, Equatable {
        public var seqLen: Int
        public var count: Int
        /// Start of each window in tokens.mmap, plus the end: `count + 1` entries.
        public var sequenceOffsets: [Int]
        public var tokens: ArrayFile
        public var positions: ArrayFile

        public init(seqLen: Int, sequenceOffsets: [Int], tokens: ArrayFile, positions: ArrayFile) {
            self.seqLen = seqLen
            self.count = max(0, sequenceOffsets.count - 1)
            self.sequenceOffsets = sequenceOffsets
            self.tokens = tokens
            self.positions = positions
        }

        enum CodingKeys: String, CodingKey {
            case seqLen = "seq_len", count = "n_sequences", sequenceOffsets = "sequence_offsets", tokens, positions
        }
    }

    public var format: String
    /// Element type of acts.mmap: `float32` or `float16`.
    public var dtype: String
    /// [rows, d_model].
    public var shape: [Int]
    public var provenance: Provenance?
    public var windows: Windows?
    public var saepipeVersion: String

    public init(dtype: String, rows: Int, width: Int, provenance: Provenance?, windows: Windows?) {
        format = Self.formatName
        self.dtype = dtype
        shape = [rows, width]
        self.provenance = provenance
        self.windows = windows
        saepipeVersion = SAEPipeVersion.current
    }

    public var rows: Int { shape.first ?? 0 }
    public var width: Int { shape.count > 1 ? shape[1] : 0 }

    /// Reads `<directory>/meta.json`.
    public static func read(directory: String) throws -> ActivationSetMeta {
        let meta = try JSONFile.read(ActivationSetMeta.self, from: "\(directory)/\(fileName)",
                                     hint: "rerun the collect stage (`saepipe run CONFIG --force collect`)")
        guard meta.shape.count == 2, ActivationStore.DType(rawValue: meta.dtype) != nil else {
            throw SAEPipeError.input("activation metadata is malformed (shape \(meta.shape), dtype \(meta.dtype))",
                                     file: "\(directory)/\(fileName)", hint: "rerun the collect stage")
        }
        return meta
    }

    public func write(directory: String) throws { try JSONFile.write(self, to: "\(directory)/\(Self.fileName)") }

    // The provenance and window fields sit at the top level of the file, as they always have.
    enum CodingKeys: String, CodingKey { case format, dtype, shape, saepipeVersion = "saepipe_version" }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decodeIfPresent(String.self, forKey: .format) ?? Self.formatName
        dtype = try container.decode(String.self, forKey: .dtype)
        shape = try container.decode([Int].self, forKey: .shape)
        saepipeVersion = try container.decodeIfPresent(String.self, forKey: .saepipeVersion) ?? ""
        provenance = try? Provenance(from: decoder)
        windows = try? Windows(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encode(dtype, forKey: .dtype)
        try container.encode(shape, forKey: .shape)
        try container.encode(saepipeVersion, forKey: .saepipeVersion)
        try provenance?.encode(to: encoder)
        try windows?.encode(to: encoder)
    }
}
