using System.CommandLine;
using Palu.Compression;

namespace Palu.Cli.Commands;

/// <summary>
/// <c>palu compress</c>'s choice of KV method (<c>--method palu|recalkv</c>) and ReCalKV's options. recalkv brings the
/// paper's defaults for the options the user leaves out: fisher_uniform ranks with the descending remainder order and
/// symmetric-square-root whitening.
/// </summary>
public sealed class KvMethodOptions
{
    public Option<string> Method { get; } = new("--method")
    {
        Description = "palu (grouped whitened SVD of keys and values) | recalkv (ReCalKV: keys grouped by head similarity (HSR), values " +
                      "factorised jointly and refitted on calibration data (OVC); implies --rank-allocation fisher_uniform --fisher-order descending --whitening sqrt unless given)",
        DefaultValueFactory = _ => "palu",
    };
    public Option<string> Variant { get; } = new("--method-variant")
    {
        Description = "recalkv ablation: full (HSR + OVC) | reorder-only (HSR, no OVC) | calibrate-only (consecutive key groups, OVC) | baseline (neither; values still joint)",
        DefaultValueFactory = _ => "full", HelpName = "VARIANT",
    };
    public Option<int> OvcSamples { get; } = new("--ovc-samples") { Description = "recalkv: calibration windows for OVC, drawn without overlap from the --calib text", DefaultValueFactory = _ => 256, HelpName = "N" };
    public Option<int> OvcIterations { get; } = new("--ovc-iterations") { Description = "recalkv: OVC refit rounds (0 = keep the SVD factors)", DefaultValueFactory = _ => 1, HelpName = "N" };
    public Option<string> OvcActivations { get; } = new("--ovc-activations")
    {
        Description = "recalkv: fit each layer's values to the activations of the model with the layers below already compressed (propagated, as the paper) or of the dense model (dense: one pass, cheaper)",
        DefaultValueFactory = _ => "propagated",
    };
    public Option<string> Whitening { get; } = new("--whitening")
    {
        Description = "factor of the calibration Gram for whitening: cholesky (Palu's default) | sqrt (symmetric square root, recalkv's default)", HelpName = "KIND",
    };
    public Option<bool> FuseValues { get; } = new("--fuse-values") { Description = "recalkv: record that the model loads with the value up-projection folded into o_proj (joint value ranks make it wide; off = values rebuilt from the latents)" };

    public KvMethodOptions()
    {
        Method.AcceptOnlyFromAmong("palu", "recalkv");
        OvcActivations.AcceptOnlyFromAmong("propagated", "dense");
        Whitening.AcceptOnlyFromAmong("cholesky", "sqrt");
    }

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Method, Variant, OvcSamples, OvcIterations, OvcActivations, Whitening, FuseValues }) c.Options.Add(o);
    }

    public bool IsReCalKV(ParseResult p) => p.GetValue(Method) == "recalkv";

    /// <summary>True when <paramref name="o"/> was left to its default.</summary>
    public static bool Unset(ParseResult p, Option o) => p.GetResult(o) is null or { Implicit: true };

    public WhiteningKind WhiteningKind(ParseResult p) =>
        p.GetValue(Whitening) is string w ? (w == "sqrt" ? Compression.WhiteningKind.Sqrt : Compression.WhiteningKind.Cholesky)
        : IsReCalKV(p) ? Compression.WhiteningKind.Sqrt : Compression.WhiteningKind.Cholesky;

    /// <summary>ReCalKV's options; errors for ReCalKV-only options given with --method palu.</summary>
    public ReCalKVOptions? ReCalKV(ParseResult p)
    {
        if (!IsReCalKV(p))
        {
            foreach (var o in new Option[] { Variant, OvcSamples, OvcIterations, OvcActivations, FuseValues })
                if (!Unset(p, o)) throw new ArgumentException($"{o.Name} applies to --method recalkv; add --method recalkv or drop it (Palu models choose the value path at run time: palu eval --fuse-values)");
            return null;
        }
        return new ReCalKVOptions
        {
            Variant = ReCalKVOptions.ParseVariant(p.GetValue(Variant)!),
            OvcSamples = p.GetValue(OvcSamples),
            OvcIterations = p.GetValue(OvcIterations),
            Activations = p.GetValue(OvcActivations) == "dense" ? Compression.OvcActivations.Dense : Compression.OvcActivations.Propagated,
            FuseValues = p.GetValue(FuseValues),
        };
    }

    /// <summary>One line on what ReCalKV did.</summary>
    public static string Summary(IO.ReCalKVInfo r)
    {
        static double Mean(double[]? x) => x is { Length: > 0 } ? x.Average() : double.NaN;
        string keys = r.HeadReordering
            ? $"keys grouped by head similarity (mean within-group CKA {Mean(r.HsrGroupCka):F3} vs {Mean(r.HsrConsecutiveCka):F3} for consecutive heads)"
            : "keys in consecutive head groups";
        string values = r.ValueCalibration
            ? $"values one joint group refitted on {r.OvcSamples} × {r.OvcSeqLen} tokens ({r.OvcActivations} activations, {r.OvcIterations} iteration(s)): mean relative error {Mean(r.OvcErrorBefore):F4} → {Mean(r.OvcErrorAfter):F4}"
            : "values one joint group (no calibration)";
        return $"[blue]recalkv[/] {r.Variant}: {keys}; {values}; HSR {r.HsrSeconds:F2} s, OVC {r.OvcSeconds:F1} s";
    }
}
