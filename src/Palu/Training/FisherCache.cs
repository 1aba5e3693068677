using System.Security.Cryptography;
using System.Text;
using Palu.Models;
using Palu.Text;

namespace Palu.Training;

/// <summary>Where a Fisher file came from.</summary>
public enum FisherSource { File, Cache, Computed }

/// <summary>A Fisher file ready for use, where it lives, and how it was obtained (stats only when computed now).</summary>
public sealed record FisherResult(FisherInfo Info, string Path, FisherSource Source, FisherRunStats? Stats);

/// <summary>
/// Cache of Fisher files, one per key = sha256 of (format version, model hash, calibration text hash, samples,
/// seq-len, seed, objective). Directory: the one given, else $PALU_CACHE_DIR, else $XDG_CACHE_HOME/palu, else
/// ~/.cache/palu, each + "/fisher". [inferred; our choice] Model directories are never written to: they are often
/// shared or read-only by convention (and permission bits do not stop root).
/// </summary>
public static class FisherCache
{
    public static string DefaultDirectory()
    {
        string? root = Environment.GetEnvironmentVariable("PALU_CACHE_DIR") is { Length: > 0 } p ? p
            : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? Path.Combine(x, "palu")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "palu");
        return Path.Combine(root, "fisher");
    }

    /// <summary>How calibration samples are drawn; part of the cache key, so files drawn another way are not reused.</summary>
    public const string Sampler = "CalibrationData (ALGORITHMS.md §1.1, SplitMix64)";

    public static string Key(string modelSha256, string calibrationSha256, FisherSettings s)
    {
        string text = $"{FisherMetadata.Format}/{FisherMetadata.Version}|sampler={Sampler}|model={modelSha256}|calib={calibrationSha256}|samples={s.Samples}" +
                      $"|seq_len={s.SeqLen}|seed={s.Seed}|objective={LabelObjectives.Name(s.Objective)}";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
    }

    /// <summary>
    /// The cached Fisher file for these settings if there is one whose metadata matches; otherwise computes it
    /// (<see cref="FisherPass"/>) and stores it (atomically) before returning.
    /// </summary>
    /// <param name="useCache">false: always compute (and still store the result in the cache).</param>
    /// <param name="keepFull">also keep the elementwise F (always computed; a cached file is reused only without it).</param>
    /// <param name="loadFull">false: do not read the elementwise F of a cached file that holds it.</param>
    public static FisherResult GetOrCompute(string modelDir, FisherSettings s, string? cacheDir = null,
        IProgress<double>? progress = null, CancellationToken ct = default, bool useCache = true, bool keepFull = false, bool loadFull = true)
        => GetOrCompute(modelDir, s, cacheDir, useCache, keepFull, loadFull,
            (modelHash, calibHash) => FisherPass.Compute(modelDir, s, keepFull, progress, ct, modelHash, calibHash));

    /// <summary>
    /// As <see cref="GetOrCompute(string, FisherSettings, string?, IProgress{double}?, CancellationToken, bool, bool, bool)"/>
    /// for a model already loaded (its directory is <see cref="CausalLM.Path"/>); a pass runs on it, with the tokenizer
    /// from <paramref name="tokenizer"/> (called only when a pass runs).
    /// </summary>
    public static FisherResult GetOrCompute(CausalLM lm, Func<Tokenizer> tokenizer, FisherSettings s, string? cacheDir = null,
        IProgress<double>? progress = null, CancellationToken ct = default, bool useCache = true, bool keepFull = false, bool loadFull = true)
        => GetOrCompute(lm.Path, s, cacheDir, useCache, keepFull, loadFull,
            (modelHash, calibHash) => FisherPass.Compute(lm, tokenizer(), s, keepFull, progress, ct, modelHash, calibHash));

    static FisherResult GetOrCompute(string modelDir, FisherSettings s, string? cacheDir, bool useCache, bool keepFull, bool loadFull,
        Func<string, string, (FisherInfo Info, FisherRunStats Stats)> pass)
    {
        if (!File.Exists(s.CalibrationFile)) throw new IO.ModelFormatException(s.CalibrationFile, "calibration text not found (needed for the Fisher pass)");
        string dir = cacheDir ?? DefaultDirectory();
        string modelHash = ModelHash.Compute(modelDir), calibHash = ModelHash.FileSha256(s.CalibrationFile);
        string path = Path.Combine(dir, $"fisher-{Key(modelHash, calibHash, s)[..32]}.safetensors");
        if (useCache && !keepFull && File.Exists(path))
        {
            try
            {
                var cached = FisherInfo.Load(path, loadFull);
                // a cached file of non-finite scores (written by an older palu from a NaN model) is never used
                if (Matches(cached.Metadata, modelHash, calibHash, s) && Finite(cached)) return new FisherResult(cached, path, FisherSource.Cache, null);
            }
            catch (IO.ModelFormatException) { }   // unreadable or foreign: recompute and replace
        }
        var (info, stats) = pass(modelHash, calibHash);
        // never cache (or return) Fisher scores computed from non-finite data
        for (int l = 0; l < info.Rows.Length; l++)
        {
            Models.NonFiniteCheck.Values(info.Rows[l], modelDir, $"the Fisher information (row means, entry {l})");
            Models.NonFiniteCheck.Values(info.Cols[l], modelDir, $"the Fisher information (column means, entry {l})");
        }
        Directory.CreateDirectory(dir);
        info.Save(path);
        return new FisherResult(info, path, FisherSource.Computed, stats);
    }

    static bool Finite(FisherInfo f) =>
        f.Rows.All(r => Models.NonFiniteCheck.AllFinite(r)) && f.Cols.All(c => Models.NonFiniteCheck.AllFinite(c));

    /// <summary>Loads a Fisher file given by the user and checks that it was computed for this model.</summary>
    /// <param name="loadFull">false: do not read the elementwise F even when the file holds it.</param>
    public static FisherResult LoadFor(string modelDir, string fisherFile, bool loadFull = true)
    {
        var info = FisherInfo.Load(fisherFile, loadFull);
        if (!Finite(info))
            throw IO.InputError.File(fisherFile, "holds non-finite Fisher scores (computed from a model with NaN/Inf weights)", "run palu fisher again on a healthy model");
        string modelHash = ModelHash.Compute(modelDir);
        if (info.Metadata.ModelSha256 != modelHash)
            throw new ArgumentException($"{fisherFile}: computed for a different model (model_sha256 {info.Metadata.ModelSha256[..12]}…, this model {modelHash[..12]}…); run palu fisher on this model");
        return new FisherResult(info, Path.GetFullPath(fisherFile), FisherSource.File, null);
    }

    static bool Matches(FisherMetadata m, string modelHash, string calibHash, FisherSettings s) =>
        m.ModelSha256 == modelHash && m.CalibrationSha256 == calibHash && m.Samples == s.Samples && m.SeqLen == s.SeqLen
        && m.Seed == s.Seed && m.Objective == s.Objective;
}
