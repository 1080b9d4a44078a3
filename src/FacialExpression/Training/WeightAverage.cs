using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Training;

/// <summary>
/// An exponential moving average of a training network's weights and batch-norm statistics, kept in a second network
/// of the same shape: after every optimisation step, <c>average ← d·average + (1 − d)·weights</c>. The decay is
/// warmed up as <c>d = min(decay, (1 + t) / (10 + t))</c> at step <c>t</c>, so the random initial weights are
/// forgotten within the first few dozen steps. Integer buffers (batch-norm's step counters) are copied, not averaged.
/// </summary>
internal sealed class WeightAverage : IDisposable
{
    private readonly double _decay;
    private readonly (Tensor Source, Tensor Average)[] _averaged;
    private readonly (Tensor Source, Tensor Average)[] _copied;

    public WeightAverage(ExpressionNet source, ExpressionArchitecture architecture, int classes, double dropout, double decay)
    {
        _decay = decay;
        Net = new ExpressionNet(architecture, classes, dropout, source.Mean, source.Std);
        var average = Net.state_dict();
        var pairs = source.state_dict().Select(kv => (Source: kv.Value, Average: average[kv.Key])).ToArray();
        _averaged = pairs.Where(p => p.Source.is_floating_point()).ToArray();
        _copied = pairs.Where(p => !p.Source.is_floating_point()).ToArray();
        Copy(_averaged);
        Copy(_copied);
        Net.eval();
    }

    /// <summary>The network holding the averaged weights: always in eval mode, and run only under <c>no_grad</c>.</summary>
    public ExpressionNet Net { get; }

    /// <summary>The decay applied after optimisation step <paramref name="step"/> (0-based, counted over the whole run).</summary>
    public double DecayAt(long step) => Math.Min(_decay, (1.0 + step) / (10.0 + step));

    /// <summary>Folds the source network's current weights into the average; call after every optimiser step.</summary>
    public void Update(long step)
    {
        double d = DecayAt(step);
        using var noGrad = no_grad();
        foreach (var (source, average) in _averaged) average.mul_(d).add_(source, alpha: 1 - d);
        Copy(_copied);
    }

    private static void Copy((Tensor Source, Tensor Average)[] pairs)
    {
        using var noGrad = no_grad();
        foreach (var (source, average) in pairs) average.copy_(source);
    }

    public void Dispose() => Net.Dispose();
}
