using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;

namespace FacialExpression.Training;

/// <summary>
/// One network of a training run with everything that belongs to it alone: the float32 master weights, the optimiser,
/// the bfloat16 working copy and the weight average when those are on, the best epoch's weights and the current
/// epoch's running loss and accuracy. A run of several networks trains its learners side by side, each on its own thread
/// (in lockstep, step by step, with mutual learning).
/// </summary>
internal sealed class Learner : IDisposable
{
    private bool _ownsNet = true;

    /// <summary>Builds network <paramref name="index"/> of a run; network 0 is initialised exactly as a single-network run's.</summary>
    public Learner(int index, ExpressionTrainingOptions o, int classes, float mean, float std)
    {
        Index = index;
        torch.manual_seed(index == 0 ? o.Seed : unchecked(o.Seed + 7_919L * index));
        Net = new ExpressionNet(o.Architecture, classes, o.Dropout, mean, std);
        try
        {
            var parameters = Net.parameters().ToArray();
            Optimizer = o.Optimizer == ExpressionOptimizer.AdamW
                ? optim.AdamW(parameters, o.LearningRate, beta1: o.Momentum, weight_decay: o.WeightDecay)
                : optim.SGD(parameters, o.LearningRate, momentum: o.Momentum, nesterov: o.Momentum > 0, weight_decay: o.WeightDecay);
            if (o.Precision == TrainingPrecision.BFloat16) Bf16 = new BFloat16Copy(Net, o.Architecture, classes, o.Dropout);
            if (o.WeightAveragingDecay > 0) Average = new WeightAverage(Net, o.Architecture, classes, o.Dropout, o.WeightAveragingDecay);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Index { get; }

    /// <summary>The trained (raw) network; the run's result once <see cref="ReleaseNet"/> hands it over.</summary>
    public ExpressionNet Net { get; }

    public OptimizerHelper Optimizer { get; } = null!;

    public BFloat16Copy? Bf16 { get; }

    public WeightAverage? Average { get; }

    /// <summary>The network that is validated, selected and kept: the weight average when there is one.</summary>
    public ExpressionNet Kept => Average?.Net ?? Net;

    /// <summary>The kept network's weights at the best epoch so far.</summary>
    public Dictionary<string, Tensor>? BestWeights { get; set; }

    public double LossSum { get; set; }

    public long Correct { get; set; }

    public long Seen { get; set; }

    /// <summary>Dropout masks come from <paramref name="gen"/> (or libtorch's global generator when <c>null</c>).</summary>
    public void UseDropoutGenerator(Generator? gen)
    {
        Net.DropoutGenerator = gen;
        if (Bf16 is not null) Bf16.DropoutGenerator = gen;
    }

    /// <summary>Float32 logits of the training pass (through the bfloat16 copy when there is one).</summary>
    public Tensor Logits(Tensor x) => Bf16?.Forward(x) ?? Net.call(x);

    /// <summary>Back-propagates <paramref name="loss"/>, takes the optimiser step and updates the weight average.</summary>
    public void Step(Tensor loss, long globalStep)
    {
        Optimizer.zero_grad();
        loss.backward();
        Bf16?.TransferGradients();
        Optimizer.step();
        Average?.Update(globalStep);
    }

    /// <summary>Hands <see cref="Net"/> to the caller: <see cref="Dispose"/> no longer disposes it.</summary>
    public ExpressionNet ReleaseNet()
    {
        _ownsNet = false;
        return Net;
    }

    public void Dispose()
    {
        Optimizer?.Dispose();
        Bf16?.Dispose();
        Average?.Dispose();
        Trainer.DisposeAll(BestWeights);
        BestWeights = null;
        if (_ownsNet) Net.Dispose();
    }
}
