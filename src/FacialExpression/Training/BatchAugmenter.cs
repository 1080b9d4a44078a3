using static TorchSharp.torch;

namespace FacialExpression.Training;

/// <summary>
/// Augments a whole batch with tensor operations: one affine warp per image (random crop position, horizontal flip,
/// rotation and scale, via <c>affine_grid</c> + <c>grid_sample</c>) that also crops to the training size, then random
/// erasing of one rectangle per image. Every random draw comes from the generator passed in.
/// </summary>
internal sealed class BatchAugmenter
{
    private readonly int _size;
    private readonly int _crop;
    private readonly bool _flip;
    private readonly double _maxRotation;
    private readonly double _maxScale;
    private readonly double _erasing;

    public BatchAugmenter(ExpressionTrainingOptions o)
    {
        _size = o.ImageSize;
        _crop = o.EffectiveCropSize;
        _flip = o.HorizontalFlip;
        _maxRotation = o.MaxRotationDegrees * Math.PI / 180.0;
        _maxScale = o.MaxScaleChange;
        _erasing = o.RandomErasingProbability;
    }

    /// <summary>Returns augmented crops <c>[N, 1, crop, crop]</c> of <paramref name="batch"/> <c>[N, 1, size, size]</c>.</summary>
    public Tensor Augment(Tensor batch, Generator gen)
    {
        long n = batch.shape[0];
        // Output coordinates in [-1, 1] map to input coordinates (align_corners = false).
        double cropScale = (double)_crop / _size;
        var angle = (rand(n, generator: gen) * 2 - 1) * _maxRotation;
        var scale = (1 + (rand(n, generator: gen) * 2 - 1) * _maxScale) * cropScale;
        var flip = _flip ? where(rand(n, generator: gen) < 0.5, -1.0f, 1.0f) : ones(n);
        double maxShift = 1.0 - cropScale;
        var tx = (rand(n, generator: gen) * 2 - 1) * maxShift;
        var ty = (rand(n, generator: gen) * 2 - 1) * maxShift;
        var cos = angle.cos() * scale;
        var sin = angle.sin() * scale;
        var row0 = stack([cos * flip, -sin, tx], 1);
        var row1 = stack([sin * flip, cos, ty], 1);
        var theta = stack([row0, row1], 1).to(ScalarType.Float32);
        var grid = nn.functional.affine_grid(theta, [n, 1, _crop, _crop], align_corners: false);
        var output = nn.functional.grid_sample(batch, grid, mode: GridSampleMode.Bilinear, padding_mode: GridSamplePaddingMode.Reflection, align_corners: false);
        if (_erasing > 0) output = Erase(output, gen);
        return output;
    }

    private Tensor Erase(Tensor x, Generator gen)
    {
        long n = x.shape[0];
        // Rectangle of 2-25 % of the area, aspect ratio 0.5-2, anywhere in the crop; filled with the batch mean.
        var area = (rand(n, generator: gen) * 0.23 + 0.02) * (_crop * _crop);
        var aspect = (rand(n, generator: gen) * (Math.Log(2) * 2) - Math.Log(2)).exp();
        var h = (area * aspect).sqrt().clamp(1, _crop);
        var w = (area / aspect).sqrt().clamp(1, _crop);
        var y0 = rand(n, generator: gen) * (_crop - h);
        var x0 = rand(n, generator: gen) * (_crop - w);
        var apply = rand(n, generator: gen) < _erasing;
        var coords = arange(_crop, dtype: ScalarType.Float32);
        var rows = (coords.view(1, -1) >= y0.view(-1, 1)) & (coords.view(1, -1) < (y0 + h).view(-1, 1));
        var cols = (coords.view(1, -1) >= x0.view(-1, 1)) & (coords.view(1, -1) < (x0 + w).view(-1, 1));
        var mask = (rows.unsqueeze(2) & cols.unsqueeze(1)) & apply.view(-1, 1, 1);
        return x.masked_fill(mask.unsqueeze(1), x.mean().item<float>());
    }

    /// <summary>The centre crop used for validation and prediction.</summary>
    public static Tensor CenterCrop(Tensor batch, int crop)
    {
        long size = batch.shape[2];
        long o = (size - crop) / 2;
        return batch[.., .., (int)o..(int)(o + crop), (int)o..(int)(o + crop)];
    }
}
