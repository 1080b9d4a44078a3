using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;
using FacialExpression.Data;
using FacialExpression.Modeling;

namespace FacialExpression.Persistence;

/// <summary>Everything besides weights and preprocessing that a model file records.</summary>
internal sealed record ModelMetadata
{
    public const string FormatName = "FacialExpression.Model";
    public const int CurrentFormatVersion = 1;

    public string Format { get; init; } = FormatName;
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public string LibraryVersion { get; init; } = typeof(ModelMetadata).Assembly.GetName().Version?.ToString() ?? "0";
    public required string[] Labels { get; init; }
    public required int ImageSize { get; init; }
    public required int CropSize { get; init; }
    [JsonConverter(typeof(JsonStringEnumConverter<ExpressionArchitecture>))]
    public required ExpressionArchitecture Architecture { get; init; }
    public required double Dropout { get; init; }
    public required float Mean { get; init; }
    public required float Std { get; init; }
    public ExpressionTrainingOptions? Options { get; init; }
    public int EpochsRun { get; init; }
    public int BestEpoch { get; init; }
    public double? ValidationAccuracy { get; init; }
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
}

/// <summary>
/// The model file: a zip holding <c>metadata.json</c>, <c>preprocessing.zip</c> (the fitted ML.NET transformer) and
/// <c>weights.bin</c> (TorchSharp state). Written atomically; every way a file can be wrong becomes a
/// <see cref="ModelFormatException"/>.
/// </summary>
internal static class ModelFile
{
    private const string MetadataEntry = "metadata.json";
    private const string PreprocessingEntry = "preprocessing.zip";
    private const string WeightsEntry = "weights.bin";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static void Save(string path, ModelMetadata meta, ImagePreprocessor pre, ExpressionNet net)
    {
        Guard.NotNullOrEmpty(path, nameof(path));
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var s = zip.CreateEntry(MetadataEntry).Open()) JsonSerializer.Serialize(s, meta, Json);
            using (var s = zip.CreateEntry(PreprocessingEntry, CompressionLevel.NoCompression).Open())
            {
                using var buffer = new MemoryStream();
                pre.Save(buffer);
                buffer.Position = 0;
                buffer.CopyTo(s);
            }
            using (var s = zip.CreateEntry(WeightsEntry).Open()) net.save(s);
        });
    }

    public static (ModelMetadata Meta, ImagePreprocessor Pre, ExpressionNet Net) Load(Stream stream, string description)
    {
        ZipArchive zip;
        try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(description, $"'{description}' is not a FacialExpression model file (not a zip archive, or truncated). Pass a file written by ExpressionModel.Save.", e);
        }
        using (zip)
        {
            var meta = ReadMetadata(zip, description);
            ImagePreprocessor pre;
            ExpressionNet? net = null;
            try
            {
                using (var s = CopyEntry(zip, PreprocessingEntry, description)) pre = ImagePreprocessor.Load(s, meta.ImageSize);
                TorchRuntime.EnsureLoaded();
                net = new ExpressionNet(meta.Architecture, meta.Labels.Length, meta.Dropout, meta.Mean, meta.Std);
                using (var s = CopyEntry(zip, WeightsEntry, description)) net.load(s);
                net.eval();
                return (meta, pre, net);
            }
            catch (Exception e) when (e is not ModelFormatException and not NativeRuntimeException)
            {
                net?.Dispose();
                throw new ModelFormatException(description, $"Model file '{description}' is corrupt: {e.Message}", e);
            }
        }
    }

    private static ModelMetadata ReadMetadata(ZipArchive zip, string description)
    {
        var entry = zip.GetEntry(MetadataEntry)
            ?? throw new ModelFormatException(description, $"'{description}' is a zip archive but not a FacialExpression model (no {MetadataEntry}). Pass a file written by ExpressionModel.Save.");
        ModelMetadata? meta;
        try
        {
            using var s = entry.Open();
            meta = JsonSerializer.Deserialize<ModelMetadata>(s, Json);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
        {
            throw new ModelFormatException(description, $"The metadata of model file '{description}' is corrupt: {e.Message}", e);
        }
        if (meta is null || meta.Format != ModelMetadata.FormatName)
            throw new ModelFormatException(description, $"'{description}' is not a FacialExpression model (format '{meta?.Format}').");
        if (meta.FormatVersion > ModelMetadata.CurrentFormatVersion)
            throw new ModelFormatException(description, $"Model file '{description}' has format version {meta.FormatVersion}, newer than this library reads ({ModelMetadata.CurrentFormatVersion}); it was written by FacialExpression {meta.LibraryVersion}. Upgrade the FacialExpression package.");
        if (meta.FormatVersion < 1 || meta.Labels is not { Length: >= 2 } || meta.ImageSize < 8 || meta.CropSize < 1 || meta.CropSize > meta.ImageSize || meta.Std <= 0)
            throw new ModelFormatException(description, $"The metadata of model file '{description}' is inconsistent (format version {meta.FormatVersion}, {meta.Labels?.Length ?? 0} labels, image size {meta.ImageSize}, crop {meta.CropSize}).");
        return meta;
    }

    private static MemoryStream CopyEntry(ZipArchive zip, string name, string description)
    {
        var entry = zip.GetEntry(name) ?? throw new ModelFormatException(description, $"Model file '{description}' is incomplete: the '{name}' entry is missing.");
        var copy = new MemoryStream();
        try
        {
            using var s = entry.Open();
            s.CopyTo(copy);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(description, $"Model file '{description}' is corrupt: the '{name}' entry cannot be read ({e.Message}).", e);
        }
        copy.Position = 0;
        return copy;
    }
}
