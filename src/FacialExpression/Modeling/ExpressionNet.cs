using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FacialExpression.Modeling;

/// <summary>
/// A VGG-style CNN: stages of 3×3 conv → batch-norm → ReLU (one conv in the first stage, two after), each ending in
/// 2×2 max-pooling, then global average pooling, dropout and a linear classifier. Input is <c>[N, 1, H, W]</c> pixels
/// in [0, 1]; the module normalises them with the training set's mean and standard deviation.
/// The field names are the weight file's keys: renaming one changes the model format.
/// <para>
/// Activations after the first convolution are kept in channels-last (NHWC) memory layout, which libtorch's CPU
/// convolutions run markedly faster, above all in bfloat16. TorchSharp 0.107 has no <c>memory_format</c> argument, so
/// the layout is made by permuting to NHWC, copying contiguously and permuting back: the tensor keeps its NCHW shape
/// with channels-last strides, and the following convolutions, batch-norms and poolings keep that layout. (The
/// single-channel input cannot carry it: with one channel both layouts have the same strides.)
/// </para>
/// </summary>
internal sealed class ExpressionNet : Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Module<Tensor, Tensor>[] _layers;
    private readonly Dropout dropout;
    private readonly Linear classifier;
    private readonly double _dropoutRate;
    private readonly float _mean;
    private readonly float _std;

    public ExpressionNet(ExpressionArchitecture architecture, int classes, double dropoutRate, float mean, float std)
        : base("ExpressionNet")
    {
        int[] widths = Widths(architecture);
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int cin = 1;
        for (int s = 0; s < widths.Length; s++)
        {
            int convs = s == 0 ? 1 : 2;
            for (int k = 0; k < convs; k++)
            {
                layers.Add(($"conv{s}_{k}", Conv2d(cin, widths[s], 3, padding: 1, bias: false)));
                layers.Add(($"bn{s}_{k}", BatchNorm2d(widths[s])));
                layers.Add(($"relu{s}_{k}", ReLU(inplace: true)));
                cin = widths[s];
            }
            layers.Add(($"pool{s}", MaxPool2d(2)));
        }
        layers.Add(("gap", AdaptiveAvgPool2d(1)));
        layers.Add(("flatten", Flatten()));
        features = Sequential(layers);
        _layers = layers.Select(l => l.Item2).ToArray();
        dropout = Dropout(dropoutRate);
        _dropoutRate = dropoutRate;
        classifier = Linear(cin, classes);
        _mean = mean;
        _std = std;
        RegisterComponents();
        foreach (var (_, m) in named_modules())
        {
            if (m is Conv2d conv) init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        }
    }

    /// <summary>
    /// Whether activations after the first convolution use the channels-last layout (the default). The result is the
    /// same either way up to floating-point rounding; <c>false</c> exists to compare the two.
    /// </summary>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>
    /// When set, dropout draws its mask from this generator instead of libtorch's global one, so networks trained on
    /// several threads at once stay reproducible. <c>null</c> (the default) uses the <see cref="TorchSharp.Modules.Dropout"/> module.
    /// </summary>
    public Generator? DropoutGenerator { get; set; }

    public float Mean => _mean;
    public float Std => _std;

    public static int[] Widths(ExpressionArchitecture architecture) => architecture switch
    {
        ExpressionArchitecture.Compact => [16, 32, 64],
        ExpressionArchitecture.Standard => [32, 64, 128, 256],
        ExpressionArchitecture.Large => [64, 128, 256, 512],
        _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture, "Unknown architecture."),
    };

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor x;
        using (var centred = input - _mean) x = centred / _std;
        // Each layer's input is released as soon as the next exists, as Sequential does, so inference holds one
        // activation at a time (autograd keeps what backward needs on its own).
        for (int i = 0; i < _layers.Length; i++)
        {
            var next = _layers[i].call(x);
            x.Dispose();
            if (i == 0 && ChannelsLast)
            {
                Tensor nhwc;
                using (var view = next.permute(0, 2, 3, 1)) nhwc = view.contiguous();
                next.Dispose();
                next = nhwc.permute(0, 3, 1, 2);
                nhwc.Dispose();
            }
            x = next;
        }
        x = DropoutGenerator is { } gen && training && _dropoutRate > 0 ? DropWith(x, _dropoutRate, gen) : dropout.call(x);
        return classifier.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>Inverted dropout, as <see cref="TorchSharp.Modules.Dropout"/> computes it, with the mask drawn from <paramref name="gen"/>.</summary>
    private static Tensor DropWith(Tensor x, double p, Generator gen)
    {
        using var keep = rand(x.shape, generator: gen).ge_(p);
        return x * keep.to(x.dtype) * (float)(1 / (1 - p));
    }
}
