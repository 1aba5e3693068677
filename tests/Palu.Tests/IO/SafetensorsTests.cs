using System.Text;
using Palu.IO;
using Palu.Tensors;

namespace Palu.Tests.IO;

public class SafetensorsTests
{
    [Fact]
    public void WriteReadRoundTripAllFloatTypes()
    {
        using var tmp = TestPaths.Temp();
        var rnd = new Random(5);
        var data = Enumerable.Range(0, 6 * 7).Select(_ => (float)(rnd.NextDouble() * 10 - 5)).ToArray();
        string path = tmp.File("t.safetensors");
        SafetensorsWriter.Write(path,
        [
            TensorToWrite.FromFloats("a.f32", data, [6, 7]),
            TensorToWrite.FromFloats("b.bf16", data, [6, 7], DType.BF16),
            TensorToWrite.FromFloats("c.f16", data, [42], DType.F16),
            TensorToWrite.FromInt64("d.i64", [1, -2, 3], [3]),
        ], new Dictionary<string, string> { ["format"] = "pt" });

        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(data, f.ReadFloat32("a.f32"));
        var bf = f.ReadFloat32("b.bf16");
        var h = f.ReadFloat32("c.f16");
        for (int i = 0; i < data.Length; i++)
        {
            Assert.True(Math.Abs(bf[i] - data[i]) <= Math.Abs(data[i]) / 256, $"bf16 {i}");
            Assert.Equal((float)(Half)data[i], h[i]);
        }
        Assert.Equal([1L, -2, 3], f.ReadInt64("d.i64"));
        Assert.Equal([6L, 7], f.Info("b.bf16").Shape);
        // header is padded so the data section starts 8-byte aligned
        Assert.Equal(0, f.Info("a.f32").Offset % 8);
    }

    [Fact]
    public void BF16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, FloatConvert.SingleToBF16(1.0f));
        Assert.Equal(0x3F80, FloatConvert.SingleToBF16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, FloatConvert.SingleToBF16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal(0x3F81, FloatConvert.SingleToBF16(BitConverter.UInt32BitsToSingle(0x3F808001)));
        Assert.True(float.IsNaN(FloatConvert.BF16ToSingle(FloatConvert.SingleToBF16(float.NaN))));
    }

    static string WriteRaw(TempDir tmp, string header, int dataBytes)
    {
        string path = tmp.File("raw.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)h.Length));
        fs.Write(h);
        fs.Write(new byte[dataBytes]);
        return path;
    }

    static ModelFormatException OpenFails(string path) =>
        Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void TruncatedFileIsNamed()
    {
        using var tmp = TestPaths.Temp();
        string src = Path.Combine(TestPaths.Model("tiny"), "model.safetensors");
        string path = tmp.File("model.safetensors");
        var bytes = File.ReadAllBytes(src);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = OpenFails(path);
        Assert.Contains(path, e.Message);
        Assert.Contains("out of range", e.Message);

        File.WriteAllBytes(path, bytes[..100]);   // cut inside the header
        Assert.Contains("truncated", OpenFails(path).Message);
        File.WriteAllBytes(path, bytes[..5]);     // cut inside the length field
        Assert.Contains("truncated", OpenFails(path).Message);
    }

    [Fact]
    public void HeaderOffsetOutOfRange()
    {
        using var tmp = TestPaths.Temp();
        var e = OpenFails(WriteRaw(tmp, """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"x":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}""", 24));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("out of range", e.Message);
    }

    [Fact]
    public void UnknownDtype()
    {
        using var tmp = TestPaths.Temp();
        var e = OpenFails(WriteRaw(tmp, """{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4));
        Assert.Contains("F8_E4M3", e.Message);
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void OverlapAndLengthMismatchAndBadJson()
    {
        using var tmp = TestPaths.Temp();
        Assert.Contains("overlap", OpenFails(WriteRaw(tmp,
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 24)).Message);
        Assert.Contains("does not match shape", OpenFails(WriteRaw(tmp,
            """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", 16)).Message);
        Assert.Contains("not valid JSON", OpenFails(WriteRaw(tmp, """{"a": [""", 16)).Message);
        Assert.Contains("implausible", OpenFails(WriteRaw(tmp, "", 0) is var p && Overwrite(p, ulong.MaxValue) ? p : p).Message);
    }

    static bool Overwrite(string path, ulong headerLen)
    {
        var b = File.ReadAllBytes(path);
        BitConverter.GetBytes(headerLen).CopyTo(b, 0);
        File.WriteAllBytes(path, b);
        return true;
    }
}
