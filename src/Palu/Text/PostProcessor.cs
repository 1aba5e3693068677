namespace Palu.Text;

/// <summary>
/// HF <c>post_processor</c> for a single sequence, reduced to what it does to ids with add_special_tokens=true: ids
/// put before and after the encoded text. TemplateProcessing's "single" template gives them directly (e.g. BOS, $A);
/// ByteLevel only adjusts offsets (nothing here); Roberta/Bert add cls … sep; a Sequence composes its processors.
/// </summary>
internal sealed record PostProcessor(int[] Prefix, int[] Suffix)
{
    public static readonly PostProcessor None = new([], []);

    /// <summary><paramref name="outer"/> applied to the output of <paramref name="inner"/>.</summary>
    public static PostProcessor Compose(PostProcessor inner, PostProcessor outer) =>
        new([.. outer.Prefix, .. inner.Prefix], [.. inner.Suffix, .. outer.Suffix]);

    /// <summary>
    /// Applies tokenizer_config.json's add_bos_token / add_eos_token when present (transformers' Llama-style
    /// tokenizers rebuild the template from them): ensures the prefix starts, or does not start, with BOS, and the
    /// suffix ends, or does not end, with EOS.
    /// </summary>
    public PostProcessor WithBosEos(bool? addBos, int? bosId, bool? addEos, int? eosId)
    {
        var prefix = Prefix.ToList();
        var suffix = Suffix.ToList();
        if (addBos is not null && bosId is int bos)
        {
            bool has = prefix.Count > 0 && prefix[0] == bos;
            if (addBos.Value && !has) prefix.Insert(0, bos);
            if (!addBos.Value && has) prefix.RemoveAt(0);
        }
        if (addEos is not null && eosId is int eos)
        {
            bool has = suffix.Count > 0 && suffix[^1] == eos;
            if (addEos.Value && !has) suffix.Add(eos);
            if (!addEos.Value && has) suffix.RemoveAt(suffix.Count - 1);
        }
        return new PostProcessor(prefix.ToArray(), suffix.ToArray());
    }
}
