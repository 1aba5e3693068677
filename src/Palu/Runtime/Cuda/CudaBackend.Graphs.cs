using static Palu.Runtime.Cuda.CudaDriver;

namespace Palu.Runtime.Cuda;

/// <summary>
/// Decode steps as CUDA graphs: the first step of a set of sequences is recorded (stream capture) and later steps
/// replay it with one launch, so the hundreds of kernel launches of a step cost the host one call. What changes
/// between steps lives in a small device block the kernels read: the token ids and the shift (steps since the
/// recording), which the kernels add to every position they were recorded with. A recording is replayed only for the
/// same model, workspace and sequences, all moved by one shift, with no device memory allocated or freed since, and
/// with the attention's split grid unchanged (it covers positions in buckets of <see cref="GraphSplitKeys"/>).
/// Anything a graph cannot hold (cuBLAS, latent attention, host copies) ends the recording; the step then runs
/// launch by launch as before.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    /// <summary>Decode steps are recorded and replayed (default; PALU_CUDA_GRAPHS=0 turns it off).</summary>
    public bool UseGraphs { get; set; } = Environment.GetEnvironmentVariable("PALU_CUDA_GRAPHS") != "0";

    /// <summary>Most token ids one step may carry (the size of the step block).</summary>
    const int MaxStepIds = 1022;

    /// <summary>A recorded attention covers keys up to its position rounded up to a multiple of this.</summary>
    const int GraphSplitKeys = 1024;

    const int CU_STREAM_CAPTURE_MODE_RELAXED = 2;

    CudaBuffer? _stepDevice;     // [2 + MaxStepIds] ints: 0, shift, ids
    int* _stepHost;              // pinned mirror of the step block
    bool _capturing;             // recording: ops take their positions from the shift, ids from the step block
    bool _captureBroken;         // the recording touched memory (allocation, free): run eagerly, record next step
    string? _captureUnsupported; // the recording met an op a graph cannot hold: these sequences never record
    int _captureIds;
    long _captureHeadroom;       // how far positions may move before a recorded op leaves its table or cache
    long _epoch;                 // counts allocations and frees: a graph recorded in another epoch is stale
    readonly List<(ulong Ptr, long Bytes)> _deferredFrees = [];
    readonly List<DecodeGraph> _graphs = [];

    sealed class DecodeGraph(object[] identity, int[] positions, nint exec, long epoch, long headroom)
    {
        public object[] Identity { get; } = identity;
        public int[] Positions { get; } = positions;
        public nint Exec { get; set; } = exec;      // 0: these sequences never record
        public long Epoch { get; } = epoch;
        public long Headroom { get; } = headroom;
    }

    /// <summary>Thrown inside a recording that cannot go on; caught by <see cref="DecodeStep"/>.</summary>
    sealed class CaptureAbort : Exception;

    /// <summary>Device address of the shift kernels add to positions: the step block's shift while recording, else 0.</summary>
    ulong ShiftPointer => StepBlock().Pointer + (_capturing ? 4ul : 0ul);

    CudaBuffer StepBlock()
    {
        if (_stepDevice != null) return _stepDevice;
        _stepDevice = AllocateLocked((2 + MaxStepIds) * 4, null);
        nint host;
        Check(cuMemAllocHost(out host, (nuint)((2 + MaxStepIds) * 4)), "cuMemAllocHost");
        _stepHost = (int*)host;
        return _stepDevice;
    }

    /// <summary>Inside a recording: an op that a graph cannot hold. These sequences run eagerly from now on.</summary>
    void NotInGraph(string what)
    {
        if (!_capturing) return;
        _captureUnsupported = what;
        throw new CaptureAbort();
    }

    /// <summary>Inside a recording: device memory changes, so this step runs eagerly and the next one records.</summary>
    void BreakCapture()
    {
        if (!_capturing) return;
        _captureBroken = true;
        throw new CaptureAbort();
    }

    /// <summary>Inside a recording: positions may move by at most <paramref name="room"/> before the op leaves its bounds.</summary>
    void Headroom(long room) { if (_capturing) _captureHeadroom = Math.Min(_captureHeadroom, room); }

    static int GraphSplits(int S) => (S + GraphSplitKeys - 1) / GraphSplitKeys * (GraphSplitKeys / 128);

    public override void DecodeStep(object[] identity, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, Action body)
    {
        if (!UseGraphs || _profile != null || ids.Length > MaxStepIds) { body(); return; }
        using var _ = Enter();
        StepBlock();
        var g = _graphs.Find(e => Same(e.Identity, identity));
        if (g != null && g.Exec == 0) { body(); return; }
        if (g != null && g.Epoch == _epoch && ShiftOf(g, positions) is int shift)
        {
            Replay(g.Exec, ids, shift);
            return;
        }
        if (g != null) Forget(g);
        var exec = Record(ids, body, out long headroom);
        if (_captureUnsupported != null)
        {
            _graphs.Add(new DecodeGraph(identity, positions.ToArray(), 0, _epoch, 0));
            Trim();
            body();
            return;
        }
        if (exec == 0) { body(); return; }   // memory moved while recording: eagerly now, record next time
        _graphs.Add(new DecodeGraph(identity, positions.ToArray(), exec, _epoch, headroom));
        Trim();
        Replay(exec, ids, 0);
    }

    /// <summary>Records body into an executable graph, or returns 0 when the recording broke off.</summary>
    nint Record(ReadOnlySpan<int> ids, Action body, out long headroom)
    {
        _capturing = true; _captureBroken = false; _captureUnsupported = null; _captureIds = ids.Length;
        _captureHeadroom = long.MaxValue;
        Check(cuStreamBeginCapture_v2(_stream, CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
        Exception? error = null;
        try
        {
            body();
            FlushRows();
        }
        catch (CaptureAbort) { }
        catch (Exception e) { error = e; }
        _ropeQueue.Clear();   // what a broken recording left queued is run again by the eager step
        _storeQueue.Clear();
        _pendingAdd = null;
        _pendingSwiGlu = null;
        _gemvQueue.Clear();
        _capturing = false;
        int r = cuStreamEndCapture(_stream, out nint graph);
        headroom = _captureHeadroom;
        foreach (var (p, bytes) in _deferredFrees) Free(p, bytes);
        _deferredFrees.Clear();
        nint exec = 0;
        try
        {
            if (error != null) throw error;
            if (_captureBroken || _captureUnsupported != null) return 0;
            Check(r, "cuStreamEndCapture");
            Check(cuGraphInstantiate(out exec, graph, 0), "cuGraphInstantiate");
            return exec;
        }
        finally { if (graph != 0) cuGraphDestroy(graph); }
    }

    void Replay(nint exec, ReadOnlySpan<int> ids, int shift)
    {
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");   // the last step's copy of the block is done
        _stepHost[0] = 0;
        _stepHost[1] = shift;
        ids.CopyTo(new Span<int>(_stepHost + 2, ids.Length));
        Check(cuMemcpyHtoDAsync(_stepDevice!.Pointer, _stepHost, (nuint)((2 + ids.Length) * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        Check(cuGraphLaunch(exec, _stream), "cuGraphLaunch");
    }

    /// <summary>The common shift of every sequence since the recording, or null when the graph does not fit this step.</summary>
    static int? ShiftOf(DecodeGraph g, ReadOnlySpan<int> positions)
    {
        if (positions.Length != g.Positions.Length) return null;
        int shift = positions[0] - g.Positions[0];
        if (shift > g.Headroom) return null;
        for (int b = 0; b < positions.Length; b++)
            if (positions[b] - g.Positions[b] != shift || GraphSplits(positions[b] + 1) != GraphSplits(g.Positions[b] + 1)) return null;
        return shift;
    }

    static bool Same(object[] a, object[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++) if (!ReferenceEquals(a[i], b[i])) return false;
        return true;
    }

    void Forget(DecodeGraph g)
    {
        if (g.Exec != 0) cuGraphExecDestroy(g.Exec);
        _graphs.Remove(g);
    }

    /// <summary>Keeps the 8 newest recordings.</summary>
    void Trim()
    {
        while (_graphs.Count > 8) Forget(_graphs[0]);
    }

    /// <summary>Drops every recording (their memory may be about to go).</summary>
    void ForgetGraphs()
    {
        while (_graphs.Count > 0) Forget(_graphs[^1]);
    }
}
