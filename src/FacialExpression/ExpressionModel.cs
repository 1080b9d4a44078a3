using FacialExpression.Data;
using FacialExpression.Evaluation;
using FacialExpression.Modeling;
using FacialExpression.Persistence;
using FacialExpression.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace FacialExpression;

/// <summary>
/// A trained facial-expression classifier: ML.NET image preprocessing plus a TorchSharp CNN. Create one with
/// <see cref="Train(string, ExpressionTrainingOptions?, IProgress{TrainingProgress}?, CancellationToken)"/> or
/// <see cref="Load(string)"/>; it owns native memory, so dispose it. All prediction and evaluation members are
/// thread-safe.
/// </summary>
public sealed partial class ExpressionModel : IDisposable
{
    private const int InferenceBatch = 256;
    private readonly ExpressionNet[] _nets;
    private readonly ModelMetadata[] _metas;
    private readonly ImagePreprocessor _pre;
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>Wraps one network, or an ensemble's networks, that share the first metadata record's labels and image size.</summary>
    private ExpressionModel(ExpressionNet[] nets, ImagePreprocessor pre, ModelMetadata[] metas)
    {
        _nets = nets;
        _pre = pre;
        _metas = metas;
        Labels = Array.AsReadOnly(metas[0].Labels);
    }

    /// <summary>The expressions the model distinguishes, in score order: the class folder names (or, for a FER2013 CSV, the names of the emotion codes its <c>Training</c> rows hold), sorted ordinally.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Side of the square grayscale image inputs are resized to before the centre crop.</summary>
    public int ImageSize => _metas[0].ImageSize;

    /// <summary>
    /// Validation accuracy of the kept (best) epoch when the model was trained (of the ensemble, for a model trained with
    /// <see cref="ExpressionTrainingOptions.Networks"/> above 1), or <c>null</c> without validation data and for
    /// ensembles made by <see cref="Ensemble"/> from separately trained models (measure those with
    /// <see cref="Evaluate(string, CancellationToken)"/>).
    /// </summary>
    public double? ValidationAccuracy => _nets.Length == (_metas[0].Options?.Networks ?? 1) ? _metas[0].ValidationAccuracy : null;

    /// <summary>How many networks vote: <see cref="ExpressionTrainingOptions.Networks"/> for a trained model (1 by default), more for one made by <see cref="Ensemble"/>.</summary>
    public int NetworkCount => _nets.Length;

    /// <summary>
    /// Test-time augmentation for every <c>Predict</c>, <c>PredictBatch</c>, <c>Evaluate</c>, <c>PredictFaces</c> and <c>AnnotateFaces</c> call.
    /// <see cref="FacialExpression.TestTimeAugmentation.None"/> for a newly trained model;
    /// <see cref="FacialExpression.TestTimeAugmentation.Flip"/> for <see cref="LoadPretrained"/>'s model. <see cref="Save"/> records it and
    /// <see cref="Load(string)"/> restores it, so a loaded model predicts exactly as the saved one did;
    /// <see cref="Ensemble"/> keeps it when every member has the same setting (otherwise the ensemble starts with <see cref="FacialExpression.TestTimeAugmentation.None"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not one of the enumeration's members.</exception>
    public TestTimeAugmentation TestTimeAugmentation
    {
        get => _testTimeAugmentation;
        set
        {
            Guard.Defined(value, nameof(TestTimeAugmentation));
            _testTimeAugmentation = value;
        }
    }

    private TestTimeAugmentation _testTimeAugmentation = TestTimeAugmentation.None;

    /// <summary>
    /// Trains a model on a folder holding one subfolder of images per expression (or FER2013's <c>fer2013.csv</c>,
    /// whose <c>Training</c> rows are used).
    /// </summary>
    /// <remarks>
    /// Training seeds libtorch's process-wide random generator and sets its thread count for the run (restored at the
    /// end), so train one model at a time per process; predicting with other models meanwhile is safe.
    /// </remarks>
    /// <param name="trainFolder">The training folder (labels are its subfolder names, in Unicode normalisation form C) or a FER2013 CSV file.</param>
    /// <param name="options">Training settings; <c>null</c> for the defaults of <see cref="ExpressionTrainingOptions"/>.</param>
    /// <param name="progress">Receives a data summary, warnings about skipped files and a snapshot after every epoch.</param>
    /// <param name="cancellationToken">Stops training between batches. No model file is written; with <see cref="ExpressionTrainingOptions.CheckpointFolder"/>, the checkpoint of the last completed epoch stays for resuming.</param>
    /// <returns>The trained model, with the best validation epoch's weights (the last epoch's without validation data).</returns>
    /// <exception cref="ArgumentException"><paramref name="trainFolder"/> is null or empty.</exception>
    /// <exception cref="ArgumentException"><see cref="ExpressionTrainingOptions.ValidationFolder"/> is empty (leave it <c>null</c> to hold out part of the training data).</exception>
    /// <exception cref="IOException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> cannot be created, read or written (the message names the file).</exception>
    /// <exception cref="UnauthorizedAccessException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> is not writable.</exception>
    /// <exception cref="DatasetException">The folder is missing, has fewer than two classes, a class without a readable image, a validation folder without one, or (with <see cref="ExpressionTrainingOptions.ThrowOnUnreadableImages"/>) an unreadable file.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="NativeRuntimeException">libtorch cannot be loaded.</exception>
    /// <exception cref="InvalidOperationException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> holds a run with different options or data or one that cannot be resumed, or another training run is using it (the message says which and why).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static ExpressionModel Train(string trainFolder, ExpressionTrainingOptions? options = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Guard.NotNullOrEmpty(trainFolder, nameof(trainFolder));
        var o = options ?? new ExpressionTrainingOptions();
        o.Validate();
        TorchRuntime.EnsureLoaded();
        var pre = ImagePreprocessor.Create(o.ImageSize, o.Seed);
        LabeledImages all;
        LabeledImages? validation = null;
        if (DatasetReader.IsCsv(trainFolder))
        {
            all = DatasetReader.ReadFerCsv(trainFolder, "Training", pre, null, cancellationToken);
            if (o.ValidationFolder is null && o.ValidationFraction > 0)
                validation = DatasetReader.ReadFerCsv(trainFolder, "PublicTest", pre, all.Labels, cancellationToken);
        }
        else
        {
            all = DatasetReader.ReadFolder(trainFolder, pre, o.ThrowOnUnreadableImages, null, cancellationToken);
        }
        return TrainOn(all, validation, pre, o, progress, cancellationToken);
    }

    /// <summary>
    /// Trains a model from an ML.NET <see cref="IDataView"/> holding an image-path column and a text label column
    /// (for example one made by <c>mlContext.Data.LoadFromTextFile</c>). Labels are the distinct label values, sorted ordinally.
    /// </summary>
    /// <param name="trainData">The training rows.</param>
    /// <param name="imagePathColumn">Name of the text column with image file paths. Default <c>"ImagePath"</c>.</param>
    /// <param name="labelColumn">Name of the text column with the expression label. Default <c>"Label"</c>.</param>
    /// <param name="options">Training settings; <c>null</c> for the defaults.</param>
    /// <param name="progress">Receives progress snapshots.</param>
    /// <param name="cancellationToken">Stops training between batches.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="IOException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> cannot be created, read or written (the message names the file).</exception>
    /// <exception cref="UnauthorizedAccessException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> is not writable.</exception>
    /// <exception cref="ArgumentException">A column is missing or not text, or <see cref="ExpressionTrainingOptions.ValidationFolder"/> is empty.</exception>
    /// <exception cref="DatasetException">Fewer than two labels, a label without a readable image, or unreadable images with <see cref="ExpressionTrainingOptions.ThrowOnUnreadableImages"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="NativeRuntimeException">libtorch cannot be loaded.</exception>
    /// <exception cref="InvalidOperationException"><see cref="ExpressionTrainingOptions.CheckpointFolder"/> holds a run with different options or data or one that cannot be resumed, or another training run is using it (the message says which and why).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static ExpressionModel Train(IDataView trainData, string imagePathColumn = "ImagePath", string labelColumn = "Label",
        ExpressionTrainingOptions? options = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var o = options ?? new ExpressionTrainingOptions();
        o.Validate();
        TorchRuntime.EnsureLoaded();
        var rows = ReadPathsAndLabels(trainData, imagePathColumn, labelColumn);
        var labels = rows.Select(r => r.Label).Distinct().OrderBy(l => l, StringComparer.Ordinal).ToArray();
        if (labels.Length < 2)
            throw new DatasetException(labelColumn, $"The '{labelColumn}' column has {labels.Length} distinct label(s) ({string.Join(", ", labels)}); at least two are needed.");
        var pre = ImagePreprocessor.Create(o.ImageSize, o.Seed);
        var files = rows.Select(r => (r.Path, Array.IndexOf(labels, r.Label))).ToArray();
        var all = DatasetReader.Decode(files, labels, pre, o.ThrowOnUnreadableImages, "IDataView", cancellationToken);
        return TrainOn(all, null, pre, o, progress, cancellationToken);
    }

    private static ExpressionModel TrainOn(LabeledImages all, LabeledImages? validation, ImagePreprocessor pre,
        ExpressionTrainingOptions o, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        if (all.Skipped > 0)
            progress?.Report(new TrainingProgress { TotalEpochs = o.Epochs, Message = $"Skipped {all.Skipped} unreadable file(s), e.g. {string.Join(", ", all.SkippedExamples.Select(p => $"'{p}'"))}." });
        // Every class folder (or label of an IDataView) has files; if all of a class's files were unreadable, it has no images.
        var perClass = new int[all.Labels.Count];
        foreach (var t in all.Targets) perClass[t]++;
        var unseen = all.Labels.Where((_, i) => perClass[i] == 0).ToList();
        if (all.Skipped > 0 && unseen.Count > 0)
            throw new DatasetException(all.Source, $"No readable training image of {string.Join(", ", unseen.Select(l => $"'{l}'"))} in '{all.Source}' "
                + $"({all.Skipped} file(s) could not be decoded, e.g. '{all.SkippedExamples[0]}'). "
                + "Every class needs at least one JPEG, PNG, BMP, GIF, WebP or ICO image; remove the class or add images to it.");
        LabeledImages train = all;
        if (o.ValidationFolder is not null && validation is null)
        {
            validation = DatasetReader.IsCsv(o.ValidationFolder)
                ? DatasetReader.ReadFerCsv(o.ValidationFolder, "PublicTest", pre, all.Labels, ct)
                : DatasetReader.ReadFolder(o.ValidationFolder, pre, o.ThrowOnUnreadableImages, all.Labels, ct);
            if (validation.Count == 0)
                throw new DatasetException(o.ValidationFolder, $"No readable image in the validation folder '{o.ValidationFolder}'"
                    + (validation.SkippedExamples.Count > 0 ? $" ({validation.Skipped} file(s) could not be decoded, e.g. '{validation.SkippedExamples[0]}')" : "")
                    + ". Use JPEG, PNG, BMP, GIF, WebP or ICO images, or leave ValidationFolder unset to hold out part of the training set.");
            if (validation.Skipped > 0)
                progress?.Report(new TrainingProgress { TotalEpochs = o.Epochs, Message = $"Skipped {validation.Skipped} unreadable validation file(s), e.g. {string.Join(", ", validation.SkippedExamples.Select(p => $"'{p}'"))}." });
        }
        else if (validation is null && o.ValidationFraction > 0)
        {
            (train, validation) = all.StratifiedSplit(o.ValidationFraction, o.Seed);
        }
        progress?.Report(new TrainingProgress
        {
            TotalEpochs = o.Epochs,
            Message = $"Training on {train.Describe()}" + (validation is null ? "; no validation." : $"; validating on {validation.Count} images."),
        });
        var outcome = Trainer.Run(train, validation, o, progress, ct);
        var metas = outcome.Nets.Select(net => new ModelMetadata
        {
            Labels = all.Labels.ToArray(), ImageSize = o.ImageSize, CropSize = o.EffectiveCropSize, Architecture = o.Architecture,
            // Folders on the trainer's machine are not saved in the file (a shared model would reveal them); the
            // validation folder keeps its name only.
            Dropout = o.Dropout, Mean = net.Mean, Std = net.Std, Options = o with { CheckpointFolder = null, ValidationFolder = FolderName(o.ValidationFolder) },
            EpochsRun = outcome.EpochsRun, BestEpoch = outcome.BestEpoch, ValidationAccuracy = outcome.BestValidationAccuracy,
        }).ToArray();
        return new ExpressionModel(outcome.Nets.ToArray(), pre, metas);
    }

    private static string? FolderName(string? folder) =>
        folder is null ? null : Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)) is { Length: > 0 } name ? name : null;

    /// <summary>
    /// Combines models trained on the same labels and image size into one that averages their class probabilities
    /// (after any test-time augmentation). Ensembles of independently trained networks are usually more accurate than
    /// any member; prediction cost grows with the number of networks. The result copies the weights, so the inputs may
    /// be disposed; it saves to and loads from a single file like any model.
    /// </summary>
    /// <param name="models">Two or more models; members that are ensembles contribute all their networks.</param>
    /// <returns>The ensemble; dispose it when done.</returns>
    /// <exception cref="ArgumentException">Fewer than two networks, or the models differ in labels or image size.</exception>
    /// <exception cref="ObjectDisposedException">One of <paramref name="models"/> has been disposed.</exception>
    public static ExpressionModel Ensemble(IEnumerable<ExpressionModel> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var list = models.ToArray();
        if (list.Any(m => m is null)) throw new ArgumentException("The models must not contain null.", nameof(models));
        if (list.Sum(m => m._nets.Length) < 2)
            throw new ArgumentException($"An ensemble needs at least two networks; got {list.Length} model(s) with {list.Sum(m => m._nets.Length)} network(s) in all.", nameof(models));
        var first = list[0];
        foreach (var m in list)
        {
            m.ThrowIfDisposed();
            if (!m.Labels.SequenceEqual(first.Labels))
                throw new ArgumentException($"All models must have the same labels in the same order: [{string.Join(", ", first.Labels)}] differs from [{string.Join(", ", m.Labels)}].", nameof(models));
            if (m.ImageSize != first.ImageSize)
                throw new ArgumentException($"All models must have the same image size: {first.ImageSize} differs from {m.ImageSize}.", nameof(models));
        }
        var nets = new List<ExpressionNet>();
        var metas = new List<ModelMetadata>();
        try
        {
            foreach (var m in list)
            {
                lock (m._gate)
                {
                    m.ThrowIfDisposed();
                    for (int i = 0; i < m._nets.Length; i++)
                    {
                        nets.Add(Copy(m._nets[i], m._metas[i]));
                        metas.Add(m._metas[i]);
                    }
                }
            }
        }
        catch
        {
            foreach (var net in nets) net.Dispose();
            throw;
        }
        var ensemble = new ExpressionModel(nets.ToArray(), first._pre, metas.ToArray());
        if (list.All(m => m.TestTimeAugmentation == first.TestTimeAugmentation)) ensemble._testTimeAugmentation = first.TestTimeAugmentation;
        return ensemble;
    }

    /// <summary>
    /// One of the model's networks as a model of its own — the inverse of <see cref="Ensemble"/>: to measure what each
    /// network contributes, or to keep one network for a fraction of the prediction cost. The result copies the weights and
    /// keeps this model's labels, image size and <see cref="TestTimeAugmentation"/>. Its <see cref="ValidationAccuracy"/>
    /// is the network's own when it was trained alone, and <c>null</c> when it was trained as one of
    /// <see cref="ExpressionTrainingOptions.Networks"/> (only their ensemble was validated; measure the network with
    /// <see cref="Evaluate(string, CancellationToken)"/>), also in ensembles and files made from it.
    /// </summary>
    /// <param name="index">Which network, from 0 to <see cref="NetworkCount"/> − 1, in the order <see cref="Ensemble"/> or training created them.</param>
    /// <returns>A one-network model; dispose it when done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative or not below <see cref="NetworkCount"/>.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ExpressionModel Network(int index)
    {
        ThrowIfDisposed();
        if ((uint)index >= (uint)_nets.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The model has {_nets.Length} network(s); pass an index from 0 to {_nets.Length - 1}.");
        lock (_gate)
        {
            ThrowIfDisposed();
            var meta = _metas[index];
            // A network trained as one of several carries the ensemble's validation accuracy, which is not its own.
            if (meta.Options is { Networks: > 1 }) meta = meta with { ValidationAccuracy = null };
            var net = Copy(_nets[index], meta);
            return new ExpressionModel([net], _pre, [meta]) { _testTimeAugmentation = _testTimeAugmentation };
        }
    }

    private static ExpressionNet Copy(ExpressionNet source, ModelMetadata meta)
    {
        var copy = new ExpressionNet(meta.Architecture, meta.Labels.Length, meta.Dropout, meta.Mean, meta.Std);
        var buffer = new MemoryStream();
        source.save(buffer); // closes the stream; ToArray still works
        using var weights = new MemoryStream(buffer.ToArray());
        copy.load(weights);
        copy.eval();
        return copy;
    }

    /// <summary>Evaluates the model on a folder-per-label test folder (or the <c>PrivateTest</c> rows of a FER2013 CSV file).</summary>
    /// <param name="testFolder">
    /// Test images, one subfolder per label; every subfolder name must be one of <see cref="Labels"/> (compared in Unicode
    /// normalisation form C, as training stores them). Labels without a subfolder, or with an empty one, have no test images.
    /// </param>
    /// <param name="cancellationToken">Stops decoding and inference between work items and batches.</param>
    /// <returns>Accuracy, macro-F1, log-loss, per-class precision/recall/F1 and the confusion matrix.</returns>
    /// <exception cref="ArgumentException"><paramref name="testFolder"/> is null or empty.</exception>
    /// <exception cref="DatasetException">The folder is missing or malformed, holds a label the model does not know, or holds no readable image.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public EvaluationReport Evaluate(string testFolder, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        Guard.NotNullOrEmpty(testFolder, nameof(testFolder));
        var data = DatasetReader.IsCsv(testFolder)
            ? DatasetReader.ReadFerCsv(testFolder, "PrivateTest", _pre, Labels, cancellationToken)
            : DatasetReader.ReadFolder(testFolder, _pre, throwOnUnreadable: false, Labels, cancellationToken);
        return EvaluateOn(data, cancellationToken);
    }

    /// <summary>Evaluates the model on an ML.NET <see cref="IDataView"/> with image-path and text label columns.</summary>
    /// <param name="testData">The test rows.</param>
    /// <param name="imagePathColumn">Name of the text column with image file paths. Default <c>"ImagePath"</c>.</param>
    /// <param name="labelColumn">Name of the text column with the true label. Default <c>"Label"</c>.</param>
    /// <param name="cancellationToken">Stops decoding and inference between work items and batches.</param>
    /// <returns>The evaluation report.</returns>
    /// <exception cref="ArgumentException">A column is missing or not text.</exception>
    /// <exception cref="DatasetException">A label is not one of <see cref="Labels"/>, or no image is readable.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public EvaluationReport Evaluate(IDataView testData, string imagePathColumn = "ImagePath", string labelColumn = "Label",
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(testData);
        var rows = ReadPathsAndLabels(testData, imagePathColumn, labelColumn);
        var known = Labels.Select(DatasetReader.Label).ToList(); // once, not per row
        var files = rows.Select(r =>
        {
            int i = known.IndexOf(r.Label);
            if (i < 0) throw new DatasetException(r.Path, $"Label '{r.Label}' of '{r.Path}' is not one the model knows: {string.Join(", ", Labels)}.");
            return (r.Path, i);
        }).ToArray();
        return EvaluateOn(DatasetReader.Decode(files, Labels, _pre, false, "IDataView", cancellationToken), cancellationToken);
    }

    private EvaluationReport EvaluateOn(LabeledImages data, CancellationToken ct)
    {
        if (data.Count == 0)
            throw new DatasetException(data.Source, $"There is no readable image to evaluate in '{data.Source}': {data.Skipped} file(s) could not be decoded"
                + (data.SkippedExamples.Count > 0 ? $", e.g. '{data.SkippedExamples[0]}'" : "") + ". Use JPEG, PNG, BMP, GIF, WebP or ICO images.");
        var probabilities = Probabilities(data.Pixels, data.Count, ct);
        return MetricsCalculator.Compute(Labels, data.Targets, probabilities, data.Skipped);
    }

    /// <summary>Predicts the expression of the face in an image file (a face crop; see the docs for photos).</summary>
    /// <remarks>
    /// The image is turned upright by its EXIF orientation first, as in training and evaluation. For a photo with
    /// faces somewhere in it, use <see cref="PredictFaces(string, FaceDetectionOptions)"/>.
    /// </remarks>
    /// <param name="imagePath">A JPEG, PNG, BMP, GIF, WebP or ICO file; its EXIF orientation is honoured.</param>
    /// <returns>The top label, its probability and every label's probability.</returns>
    /// <exception cref="ArgumentException"><paramref name="imagePath"/> is null or empty.</exception>
    /// <exception cref="DatasetException">The file does not exist or is not a readable image, or it is larger than 256 megapixels or 65,536 pixels a side.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ExpressionPrediction Predict(string imagePath)
    {
        ThrowIfDisposed();
        Guard.NotNullOrEmpty(imagePath, nameof(imagePath));
        using var image = ImageDecoder.Decode(imagePath, _pre.ImageSize);
        return PredictImages([image])[0];
    }

    /// <summary>Predicts the expression of the face in an encoded image read from a stream.</summary>
    /// <param name="image">A stream positioned at an encoded JPEG, PNG, BMP, GIF, WebP or ICO image; it is not closed.</param>
    /// <returns>The prediction.</returns>
    /// <exception cref="ArgumentException"><paramref name="image"/> is not readable.</exception>
    /// <exception cref="DatasetException">The stream does not hold a readable image, or it is larger than 256 megapixels or 65,536 pixels a side.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ExpressionPrediction Predict(Stream image)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(image);
        using var decoded = ImageDecoder.Decode(image, "stream", _pre.ImageSize);
        return PredictImages([decoded])[0];
    }

    /// <summary>Predicts the expression of a face given as 8-bit grayscale pixels, row-major.</summary>
    /// <param name="grayPixels">width × height bytes, 0 = black.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <returns>The prediction.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> or <paramref name="height"/> is not 1 to 32,768, or the image has more than 256 megapixels.</exception>
    /// <exception cref="ArgumentException">The pixel count is not width × height.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ExpressionPrediction Predict(ReadOnlySpan<byte> grayPixels, int width, int height)
    {
        ThrowIfDisposed();
        Guard.InRange(width, 1, 1 << 15, nameof(width));
        Guard.InRange(height, 1, 1 << 15, nameof(height));
        if ((long)width * height > ImagePreprocessor.MaxPixels)
            throw new ArgumentOutOfRangeException(nameof(height), height, $"{width}×{height} pixels is more than the {ImagePreprocessor.MaxPixels >> 20} megapixels supported.");
        if (grayPixels.Length != (long)width * height)
            throw new ArgumentException($"Expected width × height = {(long)width * height} grayscale bytes but got {grayPixels.Length}.", nameof(grayPixels));
        using var image = ImagePreprocessor.FromGray(grayPixels, width, height, _pre.ImageSize);
        return PredictImages([image])[0];
    }

    /// <summary>Predicts many image files, decoding in parallel and running the network in batches.</summary>
    /// <param name="imagePaths">Image files.</param>
    /// <param name="cancellationToken">Stops decoding and inference between work items and batches.</param>
    /// <returns>One prediction per path, in input order.</returns>
    /// <exception cref="ArgumentException">A path is null, empty or not a valid path.</exception>
    /// <exception cref="DatasetException">A file does not exist or is not a readable image (named in the message).</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public IReadOnlyList<ExpressionPrediction> PredictBatch(IEnumerable<string> imagePaths, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(imagePaths);
        var paths = imagePaths.ToArray();
        // Missing files are reported before anything is decoded; unreadable ones once decoding has found them.
        for (int i = 0; i < paths.Length; i++)
        {
            string full;
            try { full = Path.GetFullPath(paths[i]); }
            catch (ArgumentException e) { throw new ArgumentException($"Image path {i} (of {paths.Length}), '{paths[i]}', is not a valid path: {e.Message}", nameof(imagePaths), e); }
            if (!File.Exists(full))
                throw new DatasetException(full, Directory.Exists(full)
                    ? $"'{full}' (image path {i} of {paths.Length}) is a folder, not an image file. Pass image files; Evaluate reads a folder of class subfolders."
                    : $"Image file '{full}' does not exist (image path {i} of {paths.Length}).");
        }
        var (pixels, readable) = DatasetReader.DecodeToPixels(paths, _pre, "the image paths", cancellationToken);
        for (int i = 0; i < paths.Length; i++)
        {
            if (readable[i]) continue;
            ImageDecoder.Decode(paths[i], _pre.ImageSize).Dispose(); // throws the explanatory exception
            var full = Path.GetFullPath(paths[i]);
            throw new DatasetException(full, $"'{full}' could not be decoded a moment ago but can now; it was probably being written. Try again once it is complete.");
        }
        return ToPredictions(Probabilities(pixels, paths.Length, cancellationToken));
    }

    /// <summary>Runs decoded images through preprocessing and the network.</summary>
    internal IReadOnlyList<ExpressionPrediction> PredictImages(IReadOnlyList<MLImage> images)
    {
        ThrowIfDisposed();
        var pixels = images.Count > 64 ? DatasetReader.ToPixelsParallel(images, _pre) : _pre.ToPixels(images);
        return ToPredictions(Probabilities(pixels, images.Count));
    }

    private ExpressionPrediction[] ToPredictions(float[][] probabilities)
    {
        var result = new ExpressionPrediction[probabilities.Length];
        for (int i = 0; i < result.Length; i++) result[i] = ToPrediction(probabilities[i]);
        return result;
    }

    private ExpressionPrediction ToPrediction(float[] p)
    {
        int best = 0;
        for (int j = 1; j < p.Length; j++) if (p[j] > p[best]) best = j;
        var scores = new Dictionary<string, float>(p.Length);
        for (int j = 0; j < p.Length; j++) scores[Labels[j]] = p[j];
        return new ExpressionPrediction(Labels[best], p[best], scores.AsReadOnly());
    }

    /// <summary>Class probabilities for <paramref name="count"/> preprocessed images, with the current test-time augmentation.</summary>
    internal float[][] Probabilities(float[] pixels, int count, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        int size = ImageSize, k = Labels.Count;
        var tta = TestTimeAugmentation;
        var result = new float[count][];
        lock (_gate)
        {
            ThrowIfDisposed(); // again under the lock: a concurrent Dispose may have run since the check above
            using var noGrad = no_grad();
            for (int start = 0; start < count; start += InferenceBatch)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                int n = Math.Min(InferenceBatch, count - start);
                var x = tensor(pixels.AsSpan(start * size * size, n * size * size).ToArray(), [n, 1, size, size]);
                var probs = zeros(n, k);
                int votes = 0;
                for (int m = 0; m < _nets.Length; m++)
                {
                    var views = Views(x, size, _metas[m].CropSize, tta);
                    foreach (var v in views) probs.add_(nn.functional.softmax(_nets[m].call(v), 1));
                    votes += views.Count;
                }
                probs.div_(votes);
                var flat = probs.data<float>().ToArray();
                for (int i = 0; i < n; i++) result[start + i] = flat.AsSpan(i * k, k).ToArray();
            }
        }
        return result;
    }

    internal static List<Tensor> Views(Tensor x, int size, int crop, TestTimeAugmentation tta)
    {
        var center = BatchAugmenter.CenterCrop(x, crop);
        var views = new List<Tensor> { center };
        if (tta == TestTimeAugmentation.None) return views;
        if (tta == TestTimeAugmentation.TenCrop)
        {
            int e = size - crop;
            foreach (var (r, c) in new[] { (0, 0), (0, e), (e, 0), (e, e) })
                views.Add(x[.., .., r..(r + crop), c..(c + crop)]);
        }
        foreach (var v in views.ToArray()) views.Add(v.flip(3));
        return views;
    }

    /// <summary>Saves the model (preprocessing, weights and metadata) to one file, atomically.</summary>
    /// <param name="path">Destination file; replaced if it exists. Its folder is created if needed.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="IOException">The file cannot be written (the message names it); nothing is replaced.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public void Save(string path)
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            ThrowIfDisposed();
            ModelFile.Save(path, _metas.Select(m => m with { TestTimeAugmentation = _testTimeAugmentation }).ToArray(), _pre, _nets);
        }
    }

    /// <summary>Loads a model written by <see cref="Save"/>.</summary>
    /// <param name="path">The model file.</param>
    /// <returns>The ready model.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="ModelFormatException">The file is missing, truncated, corrupt, foreign or from a newer format version.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read by this process (the message names it).</exception>
    /// <exception cref="IOException">The file cannot be read, e.g. it is locked by another process.</exception>
    /// <exception cref="NativeRuntimeException">libtorch cannot be loaded.</exception>
    public static ExpressionModel Load(string path)
    {
        Guard.NotNullOrEmpty(path, nameof(path));
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ModelFormatException(full, Directory.Exists(full) ? $"'{full}' is a folder; pass the model file (.fexm) inside it." : $"Model file '{full}' does not exist.");
        using var stream = File.OpenRead(full);
        return Load(stream, full);
    }

    /// <summary>Loads a model from a stream holding a file written by <see cref="Save"/>.</summary>
    /// <param name="stream">The model bytes, from the stream's current position; not closed.</param>
    /// <returns>The ready model.</returns>
    /// <exception cref="ArgumentException"><paramref name="stream"/> is not readable.</exception>
    /// <exception cref="ModelFormatException">The bytes are not a valid model.</exception>
    /// <exception cref="NativeRuntimeException">libtorch cannot be loaded.</exception>
    public static ExpressionModel Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable; pass a stream opened for reading.", nameof(stream));
        return Load(stream, "stream");
    }

    /// <summary>
    /// Loads the FER2013 model shipped inside the package (no network access): an ensemble of two networks; labels
    /// angry, disgust, fear, happy, neutral, sad, surprise; 48×48 grayscale face crops. Its
    /// <see cref="TestTimeAugmentation"/> is <see cref="FacialExpression.TestTimeAugmentation.Flip"/> (each face is
    /// classified as it is and mirrored); set <see cref="FacialExpression.TestTimeAugmentation.None"/> for half the
    /// cost and about one point less accuracy. Accuracy and limitations are in docs/model-card.md.
    /// </summary>
    /// <returns>A new model instance; dispose it when done.</returns>
    /// <exception cref="ModelFormatException">The embedded model is missing from this build of the package.</exception>
    /// <exception cref="NativeRuntimeException">libtorch cannot be loaded.</exception>
    public static ExpressionModel LoadPretrained()
    {
        const string resource = "FacialExpression.Pretrained.fer2013.fexm";
        using var stream = typeof(ExpressionModel).Assembly.GetManifestResourceStream(resource)
            ?? throw new ModelFormatException(resource, $"This build of FacialExpression has no embedded pretrained model ('{resource}'). Use the released NuGet package, or build after placing the model trained by samples/TrainFer2013 at src/FacialExpression/Pretrained/fer2013.fexm.");
        return Load(stream, "embedded FER2013 model");
    }

    private static ExpressionModel Load(Stream stream, string description)
    {
        TorchRuntime.EnsureLoaded();
        var (metas, pre, nets) = ModelFile.Load(stream, description);
        return new ExpressionModel(nets, pre, metas) { _testTimeAugmentation = metas[0].TestTimeAugmentation };
    }

    private static List<(string Path, string Label)> ReadPathsAndLabels(IDataView data, string pathColumn, string labelColumn)
    {
        Guard.NotNullOrEmpty(pathColumn, "imagePathColumn");
        Guard.NotNullOrEmpty(labelColumn, nameof(labelColumn));
        var schema = data.Schema;
        foreach (var name in new[] { pathColumn, labelColumn })
        {
            var col = schema.GetColumnOrNull(name);
            if (col is null)
                throw new ArgumentException($"The IDataView has no column '{name}'. Columns: {string.Join(", ", schema.Select(c => c.Name))}.", name == pathColumn ? "imagePathColumn" : nameof(labelColumn));
            if (col.Value.Type is not TextDataViewType)
                throw new ArgumentException($"Column '{name}' must be text but is {col.Value.Type}.", name == pathColumn ? "imagePathColumn" : nameof(labelColumn));
        }
        var rows = new List<(string, string)>();
        using var cursor = data.GetRowCursor([schema[pathColumn], schema[labelColumn]]);
        var pathGetter = cursor.GetGetter<ReadOnlyMemory<char>>(schema[pathColumn]);
        var labelGetter = cursor.GetGetter<ReadOnlyMemory<char>>(schema[labelColumn]);
        ReadOnlyMemory<char> p = default, l = default;
        while (cursor.MoveNext())
        {
            pathGetter(ref p); labelGetter(ref l);
            rows.Add((p.ToString(), DatasetReader.Label(l.ToString()))); // in Unicode form C, as folder labels
        }
        return rows;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the networks' native memory. Idempotent; every method then throws <see cref="ObjectDisposedException"/> (the properties stay readable).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var net in _nets) net.Dispose();
        }
    }
}
