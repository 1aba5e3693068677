namespace Palu.Bench;

public static class AttentionBench
{
    public static void Run(bool quick) { _ = quick; }
}
