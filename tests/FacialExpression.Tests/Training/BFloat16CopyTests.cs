using FacialExpression.Modeling;
using FacialExpression.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Tests.Training;

public sealed class BFloat16CopyTests
{
    [Test]
    public void TrainingSteps_KeepBatchNormStatisticsInFloat32()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        using var master = new ExpressionNet(ExpressionArchitecture.Compact, 7, 0, 0.5f, 0.25f);
        using var copy = new BFloat16Copy(master, ExpressionArchitecture.Compact, 7, 0);
        var y = randint(0, 7, [16], dtype: ScalarType.Int64);
        for (int step = 0; step < 3; step++)
        {
            nn.functional.cross_entropy(copy.Forward(rand(16, 1, 40, 40)), y).backward();
            copy.TransferGradients();
        }

        var statistics = master.named_buffers().Where(b => b.buffer.is_floating_point()).Select(b => b.buffer).ToArray();
        Assert.That(statistics, Is.Not.Empty);
        long notBf16 = statistics.Sum(s => s.ne(s.to(ScalarType.BFloat16).to(ScalarType.Float32)).sum().ToInt64());
        long total = statistics.Sum(s => s.numel());
        Assert.That(notBf16, Is.GreaterThan(total / 2),
            "running means and variances updated by the bfloat16 copy must keep float32 precision, not be rounded to bfloat16");
        Assert.That(master.named_parameters().All(p => p.parameter.grad is { } g && g.dtype == ScalarType.Float32), Is.True,
            "every master parameter receives a float32 gradient");
    }
}
