using System.CommandLine;
using Palu.Models;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Cli;

/// <summary>
/// The options of every command that runs a model: where it runs (<c>--device</c>), how dense keys and values are
/// stored (<c>--kv-dtype</c>) and Palu's value path (<c>--fuse-values</c>). One definition, added to each command.
/// </summary>
public sealed class RunOptions
{
    public Option<string> Device { get; } = new("--device")
    {
        Description = "where the model runs: cpu (AVX-512 kernels on --threads cores) | cpu-reference (the naive reference kernels: slow, for checking) | cuda (not built yet)",
        DefaultValueFactory = _ => "cpu",
    };

    public Option<string> KvDType { get; } = new("--kv-dtype")
    {
        Description = "storage of a dense KV cache: auto (the compute dtype, f32 on the CPU — exact) | f32 | bf16 | f16 (half the bytes; values rounded when stored)",
        DefaultValueFactory = _ => "auto",
    };

    public Option<bool> Fuse { get; } = new("--fuse-values") { Description = "Palu-compressed models: fold the value up-projection into o_proj instead of rebuilding the values" };

    public RunOptions()
    {
        Device.AcceptOnlyFromAmong(Backends.Names);
        KvDType.AcceptOnlyFromAmong("auto", "f32", "bf16", "f16");
    }

    public void AddTo(Command c)
    {
        c.Options.Add(Device);
        c.Options.Add(KvDType);
        c.Options.Add(Fuse);
    }

    public LoadOptions Load(ParseResult p) => new()
    {
        Backend = Backends.Get(p.GetValue(Device)),
        FuseValues = p.GetValue(Fuse),
        KvDType = p.GetValue(KvDType) switch { "f32" => DType.F32, "bf16" => DType.BF16, "f16" => DType.F16, _ => null },
    };
}
