namespace Palu.Bench;

/// <summary>Minimal "--name value" option reader for bench commands.</summary>
public sealed class Args(string[] args)
{
    public string? Get(string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
    public string Str(string name, string dflt) => Get(name) ?? dflt;
    public int Int(string name, int dflt) => Get(name) is string s ? int.Parse(s) : dflt;
    public double Double(string name, double dflt) => Get(name) is string s ? double.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : dflt;
    public bool Flag(string name) => Array.IndexOf(args, name) >= 0;
    /// <summary>The value after every occurrence of <paramref name="name"/> (a repeated option such as --model).</summary>
    public List<string> All(string name) => args.Select((s, i) => (s, i)).Where(x => x.s == name && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToList();
}
