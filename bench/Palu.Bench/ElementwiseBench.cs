namespace Palu.Bench;

public static class ElementwiseBench
{
    public static void Run(bool quick) { _ = quick; }
}
