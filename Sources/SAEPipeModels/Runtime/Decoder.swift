import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// Shape facts shared by the decoder-only architectures (shown by `model info`).
public struct ModelDimensions: Sendable, Equatable {
    public var architecture: String
    public var dModel: Int
    public var layerCount: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediate: Int
    public var vocabSize: Int
    public var maxPositions: Int
    public var tiedEmbeddings: Bool
    /// GPT-NeoX's attention and MLP both read the block input; they do not for sequential blocks.
    public var parallelResidual: Bool
}

/// Where a block reads and writes hooked activations for one forward pass.
final class BlockHooks {
    let request: ForwardRequest
    let rows: Int
    let width: Int
    /// This group's first row within the whole batch.
    let firstRow: Int
    var captured: [HookPoint: [Float]] = [:]

    init(request: ForwardRequest, rows: Int, width: Int, firstRow: Int) {
        self.request = request
        self.rows = rows
        self.width = width
        self.firstRow = firstRow
    }

    func wants(_ point: HookPoint) -> Bool { request.capture.contains(point) || request.intervene.contains(point) }

    /// Copies out and/or lets the intervention rewrite the activation at `point`.
    func visit(_ point: HookPoint, _ buffer: UnsafeMutablePointer<Float>) throws {
        if request.intervene.contains(point), let intervention = request.intervention {
            try intervention(point, firstRow, UnsafeMutableBufferPointer(start: buffer, count: rows * width))
        }
        if request.capture.contains(point) {
            captured[point] = Array(UnsafeBufferPointer(start: buffer, count: rows * width))
        }
    }
}

/// The parts of a decoder-only transformer that differ by architecture.
protocol DecoderArchitecture: Sendable {
    var dimensions: ModelDimensions { get }
    /// Layers whose weights were loaded (a model loaded for layer 3 has 4).
    var loadedLayers: Int { get }
    /// The unembedding W_U [vocab, d] when loaded.
    var unembedding: Linear? { get }
    func embed(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) throws
    /// Runs block `layer` in place on the residual [batch·seqLen, dModel]. With `stopAfter`,
    /// computes only what that site needs (the residual is then left undefined).
    func block(
        _ layer: Int, residual: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, hooks: BlockHooks,
        stopAfter: HookSite?) throws
    /// Final norm then unembedding of `rows` rows into logits [rows, vocab].
    func head(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>)
}

extension DecoderArchitecture {
    var hasUnembedding: Bool { unembedding != nil }

    /// Checks the request, then runs groups of sequences in parallel, one per core, each with
    /// single-threaded BLAS: at these matrix sizes that beats threading every GEMM, and it
    /// spreads the element-wise work (norms, GELU, softmax, NLL) over the cores too.
    func forward(_ tokens: TokenBatch, _ request: ForwardRequest) throws -> ForwardResult {
        let d = dimensions
        guard tokens.seqLen <= d.maxPositions else {
            throw SAEPipeError.input("sequences of \(tokens.seqLen) tokens exceed the model's \(d.maxPositions) positions",
                                     hint: "use a shorter seq_len")
        }
        let deepest = request.deepestHook
        let wantsHead = !request.outputs.isEmpty
        guard wantsHead || deepest != nil else {
            throw SAEPipeError.input("a forward pass needs at least one hook or output")
        }
        if let deepest, deepest.layer >= d.layerCount {
            throw SAEPipeError.input("hook \(deepest) is past the model's last layer (\(d.layerCount - 1))")
        }
        let lastLayer = wantsHead ? d.layerCount - 1 : deepest!.layer
        guard lastLayer < loadedLayers, !wantsHead || hasUnembedding else {
            throw SAEPipeError.runtime("the model was loaded without the layers this request needs")
        }
        if let start = request.startResidual {
            guard start.count == tokens.tokenCount * d.dModel, request.startLayer <= lastLayer else {
                throw SAEPipeError.runtime("the start residual does not match the batch or the layers requested")
            }
        }
        for id in tokens.ids where id < 0 || Int(id) >= d.vocabSize {
            throw SAEPipeError.input("token id \(id) is outside the vocabulary (0..<\(d.vocabSize))",
                                     hint: "tokenize with this model's tokenizer")
        }
        let groups = max(1, min(tokens.batch, request.threads ?? BLAS.threads))
        if groups <= 1 { return try forwardGroup(tokens, request, firstSequence: 0, lastLayer: lastLayer) }

        // Each group runs single-threaded GEMMs; the process's BLAS count is restored by the scope.
        let results = GroupResults(count: groups)
        BLAS.singleThreaded {
            DispatchQueue.concurrentPerform(iterations: groups) { group in
                let first = tokens.batch * group / groups
                let end = tokens.batch * (group + 1) / groups
                let part = TokenBatch(ids: Array(tokens.ids[(first * tokens.seqLen)..<(end * tokens.seqLen)]),
                                      batch: end - first, seqLen: tokens.seqLen)
                results.store(group, Result { try forwardGroup(part, request, firstSequence: first, lastLayer: lastLayer) })
            }
        }
        var merged = try results.merged()
        merged.groups = groups
        return merged
    }

    /// One group of whole sequences through the blocks and the head.
    private func forwardGroup(
        _ tokens: TokenBatch, _ request: ForwardRequest, firstSequence: Int, lastLayer: Int
    ) throws -> ForwardResult {
        let d = dimensions
        let rows = tokens.tokenCount
        let firstRow = firstSequence * tokens.seqLen
        let wantsHead = !request.outputs.isEmpty
        var residual: [Float]
        if let start = request.startResidual {
            residual = Array(start[(firstRow * d.dModel)..<((firstRow + rows) * d.dModel)])
        } else {
            residual = [Float](repeating: 0, count: rows * d.dModel)
            try residual.withUnsafeMutableBufferPointer { try embed(tokens.ids, into: $0.baseAddress!) }
        }
        let hooks = BlockHooks(request: request, rows: rows, width: d.dModel, firstRow: firstRow)
        try residual.withUnsafeMutableBufferPointer { buffer in
            for layer in request.startLayer...lastLayer {
                let stop: HookSite? = (layer == lastLayer && !wantsHead) ? request.deepestHook!.site : nil
                try block(layer, residual: buffer.baseAddress!, batch: tokens.batch, seqLen: tokens.seqLen,
                          hooks: hooks, stopAfter: stop)
            }
        }
        var result = ForwardResult()
        result.captured = hooks.captured
        if wantsHead { try residual.withUnsafeBufferPointer { try runHead($0.baseAddress!, tokens, request, &result) } }
        return result
    }

    /// Logits in chunks of rows, so B·T·V floats are never held unless all logits were asked for.
    private func runHead(
        _ hidden: UnsafePointer<Float>, _ tokens: TokenBatch, _ request: ForwardRequest, _ result: inout ForwardResult
    ) throws {
        let vocab = dimensions.vocabSize
        let (batch, seqLen) = (tokens.batch, tokens.seqLen)
        let outputs = request.outputs
        if outputs.contains(.allLogits) { result.allLogits = [Float](repeating: 0, count: batch * seqLen * vocab) }
        if outputs.contains(.lastLogits) { result.lastLogits = [Float](repeating: 0, count: batch * vocab) }
        if outputs.contains(.tokenNLL) { result.tokenNLL = [Float](repeating: 0, count: batch * (seqLen - 1)) }
        let chunkRows = max(1, min(batch * seqLen, (64 << 20) / (4 * vocab)))
        var logits = [Float](repeating: 0, count: chunkRows * vocab)
        var start = 0
        while start < batch * seqLen {
            let count = min(chunkRows, batch * seqLen - start)
            logits.withUnsafeMutableBufferPointer { chunk in
                head(hidden + start * dimensions.dModel, rows: count, into: chunk.baseAddress!)
                for local in 0..<count {
                    let row = start + local
                    let (sequence, position) = (row / seqLen, row % seqLen)
                    let values = chunk.baseAddress! + local * vocab
                    if outputs.contains(.allLogits) {
                        result.allLogits!.withUnsafeMutableBufferPointer { ($0.baseAddress! + row * vocab).update(from: values, count: vocab) }
                    }
                    if outputs.contains(.lastLogits), position == seqLen - 1 {
                        result.lastLogits!.withUnsafeMutableBufferPointer { ($0.baseAddress! + sequence * vocab).update(from: values, count: vocab) }
                    }
                    if outputs.contains(.tokenNLL), position < seqLen - 1 {
                        let target = Int(tokens.ids[row + 1])
                        result.tokenNLL![sequence * (seqLen - 1) + position] =
                            LogProbabilities.negativeLogLikelihood(values, width: vocab, target: target)
                    }
                }
            }
            start += count
        }
    }
}

/// Results of parallel groups, merged in sequence order.
private final class GroupResults: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [Result<ForwardResult, Error>?]

    init(count: Int) { parts = Array(repeating: nil, count: count) }

    func store(_ index: Int, _ result: Result<ForwardResult, Error>) {
        lock.lock()
        parts[index] = result
        lock.unlock()
    }

    func merged() throws -> ForwardResult {
        let results = try parts.map { try $0!.get() }
        var merged = ForwardResult()
        for point in results[0].captured.keys { merged.captured[point] = results.flatMap { $0.captured[point]! } }
        if results[0].lastLogits != nil { merged.lastLogits = results.flatMap { $0.lastLogits! } }
        if results[0].allLogits != nil { merged.allLogits = results.flatMap { $0.allLogits! } }
        if results[0].tokenNLL != nil { merged.tokenNLL = results.flatMap { $0.tokenNLL! } }
        return merged
    }
}

/// What to load: layers beyond the deepest one needed and the unembedding can be skipped.
public struct LoadScope: Sendable, Equatable {
    /// Number of layers to load; nil loads every layer.
    public var layers: Int?
    public var unembedding: Bool

    public init(layers: Int? = nil, unembedding: Bool = true) {
        self.layers = layers
        self.unembedding = unembedding
    }

    public static let everything = LoadScope()

    /// Just enough for activations at `hook`.
    public static func through(_ hook: HookPoint) -> LoadScope { LoadScope(layers: hook.layer + 1, unembedding: false) }

    func layerCount(of total: Int) -> Int { min(total, layers ?? total) }
}
