using FacialExpression.Faces;
using SkiaSharp;

namespace FacialExpression.Tests.Faces;

/// <summary>Faces in ordinary photos: detection, ordering, cropping, EXIF orientation, errors and annotation.</summary>
public sealed class PhotoFacesTests
{
    private ExpressionModel _model = null!;

    /// <summary>The model acquisition for these tests, in one place: the shipped FER2013 model.</summary>
    private static ExpressionModel LoadModel() => ExpressionModel.LoadPretrained();

    [OneTimeSetUp]
    public void SetUp() => _model = LoadModel();

    [OneTimeTearDown]
    public void TearDown() => _model.Dispose();

    [Test]
    public void Astronaut_HasExactlyOneFace_WhoseBoxCoversHerFace()
    {
        var faces = _model.PredictFaces(FaceImages.AstronautPath);

        Assert.That(faces, Has.Count.EqualTo(1));
        var box = faces[0].Box;
        Assert.That(box.IntersectionOverUnion(FaceImages.AstronautFace), Is.GreaterThan(0.55), $"box {box}");
        // Eyes (about y 125) and mouth (about y 150) are inside the box.
        Assert.That(box.X, Is.LessThan(200));
        Assert.That(box.Right, Is.GreaterThan(255));
        Assert.That(box.Y, Is.LessThan(110));
        Assert.That(box.Bottom, Is.GreaterThan(160));
        Assert.That(faces[0].Confidence, Is.InRange(0.01f, 1f));
        Assert.That(faces[0].Prediction.Scores.Keys, Is.EquivalentTo(_model.Labels));
    }

    [Test]
    [Category("PretrainedModel")]
    public void Astronaut_TopExpressionIsHappy()
    {
        var faces = _model.PredictFaces(FaceImages.AstronautPath);

        Assert.That(faces, Has.Count.EqualTo(1));
        Assert.That(faces[0].Prediction.Label, Is.EqualTo("happy"), string.Join(", ", faces[0].Prediction.Scores.Select(s => $"{s.Key} {s.Value:P0}")));
    }

    [Test]
    public void PhotoTiledTwice_HasTwoFaces_OrderedLeftToRight()
    {
        using var photo = FaceImages.Astronaut();
        using var tiled = FaceImages.TiledTwice(photo);
        var path = FaceImages.Save(tiled, "tiled.png");

        var faces = _model.PredictFaces(path);

        Assert.That(faces, Has.Count.EqualTo(2));
        Assert.That(faces[0].Box.X, Is.LessThan(faces[1].Box.X));
        var right = faces[1].Box with { X = faces[1].Box.X - photo.Width };
        Assert.That(faces[0].Box.IntersectionOverUnion(FaceImages.AstronautFace), Is.GreaterThan(0.5));
        Assert.That(right.IntersectionOverUnion(FaceImages.AstronautFace), Is.GreaterThan(0.5));
    }

    [Test]
    public void BlankImage_ReturnsEmptyList()
    {
        using var blank = FaceImages.Solid(640, 480, new SKColor(128, 128, 128));
        var path = FaceImages.Save(blank, "blank.png");

        Assert.That(_model.PredictFaces(path), Is.Empty);
    }

    [TestCase("not-an-image.jpg", "this is text, not a JPEG")]
    [TestCase("empty.png", "")]
    [TestCase("truncated-header.png", "\u0089PNG\r\n\u001a\n\0\0")]
    public void CorruptOrNonImageFile_ThrowsDatasetExceptionNamingIt(string name, string content)
    {
        var path = Path.Combine(TestData.NewFolder("corrupt"), name);
        File.WriteAllText(path, content, System.Text.Encoding.Latin1);

        var e = Assert.Throws<DatasetException>(() => _model.PredictFaces(path))!;

        Assert.That(e.Path, Is.EqualTo(Path.GetFullPath(path)));
        Assert.That(e.Message, Does.Contain(Path.GetFullPath(path)));
    }

    [Test]
    public void MissingFile_ThrowsDatasetExceptionNamingIt()
    {
        var path = Path.Combine(TestData.NewFolder("missing"), "nowhere.jpg");

        var e = Assert.Throws<DatasetException>(() => _model.PredictFaces(path))!;

        Assert.That(e.Message, Does.Contain(path).And.Contain("does not exist"));
    }

    [Test]
    public void PhotoWiderThanTheDetectorAccepts_ThrowsDatasetExceptionNamingItAndTheLimit()
    {
        // 70,000 × 2 pixels: few pixels, but wider than OpenCV's detector takes at full resolution.
        using var wide = FaceImages.Solid(70_000, 2, SKColors.Gray);
        var path = FaceImages.Save(wide, "wide.png");

        var e = Assert.Throws<DatasetException>(() => _model.PredictFaces(path, new FaceDetectionOptions { DetectionSize = 0 }))!;

        Assert.That(e.Message, Does.Contain(path).And.Contain("70000×2").And.Contain("65536 pixels a side"));
    }

    [Test]
    public void CorruptStream_ThrowsDatasetException()
    {
        using var stream = new MemoryStream("GIF89a but then garbage"u8.ToArray());

        Assert.Throws<DatasetException>(() => _model.PredictFaces(stream));
    }

    [Test]
    public void Stream_GivesTheSameFacesAsThePath()
    {
        var fromPath = _model.PredictFaces(FaceImages.AstronautPath);
        using var stream = File.OpenRead(FaceImages.AstronautPath);

        var fromStream = _model.PredictFaces(stream);

        Assert.That(fromStream.Select(f => f.Box), Is.EqualTo(fromPath.Select(f => f.Box)));
        Assert.That(fromStream.Select(f => f.Prediction.Label), Is.EqualTo(fromPath.Select(f => f.Prediction.Label)));
        Assert.That(stream.CanRead, Is.True, "the caller's stream is not closed");
    }

    [Test]
    public void Stream_IsReadFromItsCurrentPosition_AndLeftOpen()
    {
        var prefix = "not part of the image"u8.ToArray();
        using var stream = new MemoryStream();
        stream.Write(prefix);
        stream.Write(File.ReadAllBytes(FaceImages.AstronautPath));
        stream.Position = prefix.Length;

        var faces = _model.PredictFaces(stream);

        Assert.That(faces, Has.Count.EqualTo(1));
        Assert.That(stream.CanSeek, Is.True, "the caller's stream is not closed");
    }

    [Test]
    public void CropMode_ClassifiesTheWholeImageAsOneFace_LikePredict()
    {
        var f = FaceImages.AstronautFace;
        using var crop = FaceImages.AstronautFaceCrop();
        var path = FaceImages.Save(crop, "crop.png");

        var faces = _model.PredictFaces(path, new FaceDetectionOptions { InputIsFaceCrop = true });

        Assert.That(faces, Has.Count.EqualTo(1));
        Assert.That(faces[0].Box, Is.EqualTo(new FaceBox(0, 0, f.Width, f.Width)));
        Assert.That(faces[0].Confidence, Is.EqualTo(1f));
        var direct = _model.Predict(path);
        Assert.That(faces[0].Prediction.Label, Is.EqualTo(direct.Label));
        foreach (var label in _model.Labels)
            Assert.That(faces[0].Prediction.Scores[label], Is.EqualTo(direct.Scores[label]).Within(1e-4));
    }

    [Test]
    public void CropMode_BlankImage_IsStillOneFace()
    {
        using var blank = FaceImages.Solid(48, 48, SKColors.Gray);
        var path = FaceImages.Save(blank, "blank48.png");

        Assert.That(_model.PredictFaces(path, new FaceDetectionOptions { InputIsFaceCrop = true }), Has.Count.EqualTo(1));
    }

    [Test]
    public void CropMode_LargeJpeg_IsClassifiedExactlyLikePredict()
    {
        using var crop = FaceImages.AstronautFaceCrop();
        using var large = FaceImages.Resized(crop, 512, 512);
        var path = FaceImages.Save(large, "large-crop.jpg", SKEncodedImageFormat.Jpeg); // decoded at half size for the model

        var faces = _model.PredictFaces(path, new FaceDetectionOptions { InputIsFaceCrop = true });

        Assert.That(faces, Has.Count.EqualTo(1));
        Assert.That(faces[0].Box, Is.EqualTo(new FaceBox(0, 0, 512, 512)), "the box is in the file's pixels");
        Assert.That(faces[0].Prediction, Is.EqualTo(_model.Predict(path)));
    }

    [Test]
    public void ExifRotatedJpeg_IsTurnedUprightBeforeDetection()
    {
        using var upright = FaceImages.Astronaut();
        int w = upright.Width, h = upright.Height;
        // Stored turned 90° counter-clockwise, tagged "rotate 90° clockwise to display" (orientation 6).
        using var stored = FaceImages.Transform(upright, h, w, new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1));
        var path = Path.Combine(TestData.NewFolder("exif"), "rotated.jpg");
        File.WriteAllBytes(path, FaceImages.JpegWithOrientation(stored, 6));
        var withoutTag = FaceImages.Save(stored, "rotated-untagged.jpg", SKEncodedImageFormat.Jpeg);

        var faces = _model.PredictFaces(path);

        Assert.That(faces, Has.Count.EqualTo(1), "the face is found once the photo is upright");
        Assert.That(faces[0].Box.IntersectionOverUnion(FaceImages.AstronautFace), Is.GreaterThan(0.5), $"box {faces[0].Box}");
        Assert.That(_model.PredictFaces(withoutTag), Is.Empty, "the same pixels without the tag hold no upright face");
    }

    [Test]
    public void LargePhoto_IsDownscaledForDetection_AndTheBoxMappedBack()
    {
        using var photo = FaceImages.Astronaut();
        using var large = FaceImages.Resized(photo, 2048, 2048);
        var path = FaceImages.Save(large, "large.jpg", SKEncodedImageFormat.Jpeg);
        var recorder = new RecordingDetector(CascadeFaceDetectorForTests.Instance);

        var faces = _model.PredictFaces(path, new FaceDetectionOptions { Detector = recorder });

        Assert.That(recorder.Sizes, Is.EqualTo(new[] { (320, 320) }), "the detector searched a 320-pixel copy");
        Assert.That(faces, Has.Count.EqualTo(1));
        var f = FaceImages.AstronautFace;
        var expected = new FaceBox(f.X * 4, f.Y * 4, f.Width * 4, f.Height * 4);
        Assert.That(faces[0].Box.IntersectionOverUnion(expected), Is.GreaterThan(0.5), $"box {faces[0].Box}");
    }

    [Test]
    public void DetectionSizeZero_SearchesTheFullResolution()
    {
        var recorder = new RecordingDetector(CascadeFaceDetectorForTests.Instance);

        var faces = _model.PredictFaces(FaceImages.AstronautPath, new FaceDetectionOptions { Detector = recorder, DetectionSize = 0 });

        Assert.That(recorder.Sizes, Is.EqualTo(new[] { (512, 512) }));
        Assert.That(faces.Select(f => f.Box.IntersectionOverUnion(FaceImages.AstronautFace)), Has.Some.GreaterThan(0.5));
    }

    [Test]
    public void CustomDetector_BoxesAreScaledClippedFilteredAndOrderedLeftToRight()
    {
        using var photo = FaceImages.Solid(1000, 500, SKColors.White);
        var path = FaceImages.Save(photo, "white.png");
        var detector = new FixedDetector(
            new DetectedFace(new FaceBox(150, 50, 40, 40), 0.9f),   // right face
            new DetectedFace(new FaceBox(10, 60, 30, 30), 0.8f),    // left face
            new DetectedFace(new FaceBox(190, 90, 40, 40), 0.7f),   // partly outside: clipped to the image
            new DetectedFace(new FaceBox(300, 300, 10, 10), 0.9f),  // entirely outside: dropped
            new DetectedFace(new FaceBox(50, 50, 20, 20), 0.1f));   // below MinConfidence: dropped

        var faces = _model.PredictFaces(path, new FaceDetectionOptions { Detector = detector, DetectionSize = 100, MinConfidence = 0.5 });

        Assert.That(detector.LastSize, Is.EqualTo((200, 100)));
        Assert.That(faces.Select(f => f.Box), Is.EqualTo(new[]
        {
            new FaceBox(50, 300, 150, 150),
            new FaceBox(750, 250, 200, 200),
            new FaceBox(950, 450, 50, 50),
        }));
        Assert.That(faces.Select(f => f.Confidence), Is.EqualTo(new[] { 0.8f, 0.9f, 0.7f }));
    }

    [Test]
    public void Options_OutOfRange_AreRejectedNamingTheProperty()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.PredictFaces(FaceImages.AstronautPath, new FaceDetectionOptions { DetectionSize = 5 }))!;
        Assert.That(e.ParamName, Is.EqualTo(nameof(FaceDetectionOptions.DetectionSize)));
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.PredictFaces(FaceImages.AstronautPath, new FaceDetectionOptions { CropMargin = -0.1 }))!;
        Assert.That(e.ParamName, Is.EqualTo(nameof(FaceDetectionOptions.CropMargin)));
    }

    [Test]
    public void AnnotateFaces_WritesAnUprightCopyWithTheBoxDrawn_AndNoTempFile()
    {
        var folder = TestData.NewFolder("annotate");
        var output = Path.Combine(folder, "out", "astronaut-annotated.png");

        var faces = _model.AnnotateFaces(FaceImages.AstronautPath, output);

        Assert.That(faces, Has.Count.EqualTo(1));
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(output)!), Is.EqualTo(new[] { output }), "only the output, no temporary file");
        using var written = FaceImages.Decode(output);
        using var original = FaceImages.Astronaut();
        Assert.That((written.Width, written.Height), Is.EqualTo((original.Width, original.Height)));
        var box = faces[0].Box;
        int changed = 0;
        for (int y = box.Y + 2; y < box.Bottom - 2; y++)
            if (written.GetPixel(box.X + 1, y) != original.GetPixel(box.X + 1, y)) changed++;
        Assert.That(changed, Is.GreaterThan((box.Height - 4) * 0.9), "the box's left edge is drawn");
        Assert.That(written.GetPixel(box.X + box.Width / 2, box.Y + box.Height / 2), Is.EqualTo(original.GetPixel(box.X + box.Width / 2, box.Y + box.Height / 2)), "the face itself is untouched");
    }

    [Test]
    public void AnnotateFaces_UnsupportedExtension_ThrowsBeforeWritingAnything()
    {
        var folder = TestData.NewFolder("annotate-bad");
        var output = Path.Combine(folder, "out.tiff");

        var e = Assert.Throws<ArgumentException>(() => _model.AnnotateFaces(FaceImages.AstronautPath, output))!;

        Assert.That(e.Message, Does.Contain(".png").And.Contain(".jpg"));
        Assert.That(Directory.GetFiles(folder), Is.Empty);
    }

    [Test]
    public void AnnotateFaces_OutputIsThePhotoItself_ThrowsAndKeepsTheOriginal()
    {
        var photo = Path.Combine(TestData.NewFolder("annotate-self"), "photo.png");
        File.Copy(FaceImages.AstronautPath, photo);
        var before = File.ReadAllBytes(photo);

        var e = Assert.Throws<ArgumentException>(() => _model.AnnotateFaces(photo, Path.Combine(Path.GetDirectoryName(photo)!, ".", "photo.png")))!;

        Assert.That(e.ParamName, Is.EqualTo("outputPath"));
        Assert.That(e.Message, Does.Contain(photo).And.Contain("would replace the original"));
        Assert.That(File.ReadAllBytes(photo), Is.EqualTo(before));
    }

    [Test]
    public void Folder_GivenAsAPhoto_ThrowsSayingItIsAFolder()
    {
        var folder = TestData.NewFolder("a-folder");
        var e = Assert.Throws<DatasetException>(() => _model.PredictFaces(folder))!;
        Assert.That(e.Message, Does.Contain(folder).And.Contain("is a folder, not an image file"));
        Assert.That(Assert.Throws<DatasetException>(() => _model.Predict(folder))!.Message, Does.Contain("is a folder"));
        Assert.That(Assert.Throws<DatasetException>(() => _model.PredictBatch([folder]))!.Message, Does.Contain("is a folder"));
    }

    [Test]
    public void AnnotateFaces_PhotoTooWideForWebP_ThrowsNamingTheLimitBeforeWritingAnything()
    {
        var folder = TestData.NewFolder("annotate-too-wide");
        var wide = Path.Combine(folder, "panorama.png");
        using (var bitmap = new SKBitmap(16_384, 8))
        {
            bitmap.Erase(SKColors.Gray);
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(wide, data.ToArray());
        }
        var output = Path.Combine(folder, "out.webp");

        var e = Assert.Throws<ArgumentException>(() => _model.AnnotateFaces(wide, output))!;

        Assert.That(e.Message, Does.Contain("16384×8").And.Contain("16383").And.Contain(".png"));
        Assert.That(e.ParamName, Is.EqualTo("outputPath"));
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { wide }));
    }

    [Test]
    [NonParallelizable]
    public void AnnotateFaces_WithoutASystemFont_StillDrawsTheLabel()
    {
        var folder = TestData.NewFolder("annotate-pixel-font");
        var output = Path.Combine(folder, "out.png");
        FaceAnnotator.ForcePixelFont = true;
        try
        {
            var faces = _model.AnnotateFaces(FaceImages.AstronautPath, output);
            using var written = FaceImages.Decode(output);
            var box = faces[0].Box;
            // The label sits above the box: its background is the box colour and its text is black.
            int dark = 0;
            for (int y = Math.Max(0, box.Y - 20); y < box.Y; y++)
                for (int x = box.X; x < box.X + 60; x++)
                    if (written.GetPixel(x, y) is { Red: < 40, Green: < 40, Blue: < 40 }) dark++;
            Assert.That(dark, Is.GreaterThan(20), "text pixels drawn with the built-in font");
        }
        finally
        {
            FaceAnnotator.ForcePixelFont = false;
        }
    }

    /// <summary>Passes calls through to another detector, recording the image sizes it was given.</summary>
    private sealed class RecordingDetector(IFaceDetector inner) : IFaceDetector
    {
        public List<(int, int)> Sizes { get; } = [];

        public IReadOnlyList<DetectedFace> Detect(ReadOnlySpan<byte> bgraPixels, int width, int height)
        {
            Assert.That(bgraPixels.Length, Is.EqualTo(width * height * 4));
            Sizes.Add((width, height));
            return inner.Detect(bgraPixels, width, height);
        }
    }

    /// <summary>Returns fixed faces whatever the image.</summary>
    private sealed class FixedDetector(params DetectedFace[] faces) : IFaceDetector
    {
        public (int, int) LastSize { get; private set; }

        public IReadOnlyList<DetectedFace> Detect(ReadOnlySpan<byte> bgraPixels, int width, int height)
        {
            LastSize = (width, height);
            return faces;
        }
    }
}

/// <summary>One default cascade detector shared by the face tests.</summary>
internal static class CascadeFaceDetectorForTests
{
    private static readonly Lazy<CascadeFaceDetector> Lazy = new(() => new CascadeFaceDetector());

    public static CascadeFaceDetector Instance => Lazy.Value;
}
