using static TorchSharp.torch;

namespace FacialExpression.Training;

/// <summary>
/// Mixup (Zhang et al. 2018): blends a batch with a shuffled copy of itself by a factor λ ~ Beta(α, α) drawn once per
/// batch. The caller blends the loss with <see cref="Loss"/>. Draws come from a seeded <see cref="Random"/> (λ) and
/// the trainer's generator (pairing), so a resumed run mixes exactly as an uninterrupted one.
/// </summary>
internal sealed class Mixup
{
    private readonly double _alpha;
    private readonly Random _random;

    public Mixup(double alpha, int seed)
    {
        if (alpha <= 0) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Mixup needs α > 0.");
        _alpha = alpha;
        _random = new Random(seed);
    }

    /// <summary>The blended batch, the blend factor λ of <paramref name="x"/> and the partner of every row.</summary>
    public (Tensor Mixed, double Lambda, Tensor Partner) Mix(Tensor x, Generator gen)
    {
        double lambda = SampleBeta(_random, _alpha);
        var partner = randperm(x.shape[0], generator: gen);
        var mixed = x * lambda + x.index_select(0, partner) * (1 - lambda);
        return (mixed, lambda, partner);
    }

    /// <summary>λ·CE(logits, y) + (1−λ)·CE(logits, y[partner]), both with the same label smoothing.</summary>
    public static Tensor Loss(Tensor logits, Tensor y, double lambda, Tensor partner, double labelSmoothing) =>
        nn.functional.cross_entropy(logits, y, label_smoothing: labelSmoothing) * lambda
        + nn.functional.cross_entropy(logits, y.index_select(0, partner), label_smoothing: labelSmoothing) * (1 - lambda);

    /// <summary>A Beta(α, α) draw as G₁ / (G₁ + G₂) with G₁, G₂ ~ Gamma(α, 1).</summary>
    internal static double SampleBeta(Random random, double alpha)
    {
        double a = SampleGamma(random, alpha), b = SampleGamma(random, alpha);
        return a + b > 0 ? a / (a + b) : 0.5;
    }

    /// <summary>Marsaglia–Tsang (2000); for shape &lt; 1, Gamma(shape + 1)·U^(1/shape).</summary>
    private static double SampleGamma(Random random, double shape)
    {
        if (shape < 1) return SampleGamma(random, shape + 1) * Math.Pow(1 - random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = Normal(random);
                v = 1 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = 1 - random.NextDouble();
            if (Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
