using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Tests.Modeling;

public sealed class ExpressionNetTests
{
    [TestCase(ExpressionArchitecture.Compact)]
    [TestCase(ExpressionArchitecture.Standard)]
    public void ChannelsLast_ComputesTheSameLogitsAndGradientsAsTheContiguousLayout(ExpressionArchitecture architecture)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(11);
        using var fast = new ExpressionNet(architecture, 7, 0, 0.5f, 0.25f);
        using var plain = new ExpressionNet(architecture, 7, 0, 0.5f, 0.25f) { ChannelsLast = false };
        plain.load_state_dict(fast.state_dict());
        var x = rand(8, 1, 40, 40);
        var y = randint(0, 7, [8], dtype: ScalarType.Int64);

        var grads = new List<Dictionary<string, Tensor>>();
        foreach (var net in new[] { fast, plain })
        {
            net.train();
            net.zero_grad();
            nn.functional.cross_entropy(net.call(x), y).backward();
            grads.Add(net.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
        }
        foreach (var (name, g) in grads[0])
            Assert.That(g.allclose(grads[1][name], rtol: 1e-3, atol: 1e-5), Is.True, $"gradient of {name}");

        fast.eval();
        plain.eval();
        using (no_grad())
        {
            var a = fast.call(x);
            var b = plain.call(x);
            Assert.That(a.allclose(b, rtol: 1e-4, atol: 1e-5), Is.True, "eval-mode logits");
        }
    }
}
