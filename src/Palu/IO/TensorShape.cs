namespace Palu.IO;

/// <summary>Element count and text of a tensor shape.</summary>
internal static class TensorShape
{
    /// <summary>The product of the dimensions; throws <see cref="OverflowException"/> when it does not fit a long.</summary>
    public static long ElementCount(long[] shape)
    {
        long elements = 1;
        foreach (var d in shape) elements = checked(elements * d);
        return elements;
    }

    /// <summary>"[2, 3]".</summary>
    public static string Text(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
