using FacialExpression.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FacialExpression.Training;

/// <summary>
/// bfloat16 mixed precision without autocast (TorchSharp 0.107 has none): a bfloat16 working copy of the network runs
/// the forward and backward passes, while the float32 master network keeps the weights, receives the gradients and
/// takes the optimiser step, so small updates are not rounded away. The copy's batch-norm layers stay in float32
/// (libtorch normalises bfloat16 activations with float32 parameters and statistics), so the running statistics the
/// saved model uses are not rounded to bfloat16 on every update; they are carried over both ways.
/// </summary>
internal sealed class BFloat16Copy : IDisposable
{
    private readonly ExpressionNet _work;
    private readonly (Parameter Master, Parameter Work)[] _parameters;
    private readonly (Tensor Master, Tensor Work)[] _buffers;

    public BFloat16Copy(ExpressionNet master, ExpressionArchitecture architecture, int classes, double dropout)
    {
        _work = new ExpressionNet(architecture, classes, dropout, master.Mean, master.Std);
        _work.to(ScalarType.BFloat16);
        foreach (var (_, module) in _work.named_modules())
        {
            if (module is BatchNorm2d norm) norm.to(ScalarType.Float32);
        }
        var workParameters = _work.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var workBuffers = _work.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        _parameters = master.named_parameters().Select(p => (p.parameter, workParameters[p.name])).ToArray();
        _buffers = master.named_buffers().Select(b => (b.buffer, workBuffers[b.name])).ToArray();
    }

    /// <summary>The generator the working copy's dropout draws from (see <see cref="ExpressionNet.DropoutGenerator"/>).</summary>
    public Generator? DropoutGenerator
    {
        get => _work.DropoutGenerator;
        set => _work.DropoutGenerator = value;
    }

    /// <summary>Loads the master's current weights into the copy and returns its float32 logits for <paramref name="x"/>.</summary>
    public Tensor Forward(Tensor x)
    {
        using (no_grad())
        {
            foreach (var (master, work) in _parameters) work.copy_(master);
            foreach (var (master, work) in _buffers) work.copy_(master);
        }
        _work.train();
        _work.zero_grad();
        return _work.call(x.to(ScalarType.BFloat16)).to(ScalarType.Float32);
    }

    /// <summary>After <c>backward()</c>: gives the master the copy's gradients (as float32) and batch-norm statistics.</summary>
    public void TransferGradients()
    {
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var (master, work) in _parameters)
                master.grad = work.grad is { } g ? g.to(ScalarType.Float32) : null;
            foreach (var (master, work) in _buffers) master.copy_(work);
        }
    }

    public void Dispose() => _work.Dispose();
}
