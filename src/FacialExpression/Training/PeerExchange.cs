using static TorchSharp.torch;

namespace FacialExpression.Training;

/// <summary>
/// Lets networks that train in lockstep on separate threads see each other's predictions for the current batch
/// (mutual learning). Every step each network publishes its probabilities and then asks for the mean of the others';
/// two barriers make the exchange safe: nobody reads before all have published, and nobody moves on (releasing what it
/// published) before all have read.
/// </summary>
internal sealed class PeerExchange : IDisposable
{
    private readonly Tensor?[] _published;
    private readonly Barrier _barrier;

    public PeerExchange(int networks)
    {
        _published = new Tensor?[networks];
        _barrier = new Barrier(networks);
    }

    /// <summary>Offers network <paramref name="index"/>'s probabilities for this step; the tensor must stay alive until <see cref="MeanOfOthers"/> returns.</summary>
    public void Publish(int index, Tensor probabilities) => _published[index] = probabilities;

    /// <summary>Waits for every network's probabilities and returns the mean of the other networks' (a new tensor in the caller's dispose scope).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled while waiting for the others to publish (another network failed or the run was cancelled).</exception>
    public Tensor MeanOfOthers(int index, CancellationToken ct)
    {
        _barrier.SignalAndWait(ct);
        try
        {
            Tensor? sum = null;
            for (int j = 0; j < _published.Length; j++)
            {
                if (j == index) continue;
                if (sum is null) sum = _published[j]!.clone();
                else sum.add_(_published[j]!);
            }
            return sum!.div_(_published.Length - 1);
        }
        finally
        {
            // Not cancellable: a network must not release what it published while another is still reading it. Every
            // thread that passed the first barrier gets here without waiting on anything else, so this cannot hang.
            _barrier.SignalAndWait();
        }
    }

    public void Dispose() => _barrier.Dispose();
}
