namespace FacialExpression.Tests.Data;

public sealed class SyntheticFacesTests
{
    [Test]
    public void ImageSeed_IsAFixedFunctionOfItsInputs()
    {
        // Fixed values: a per-process hash (HashCode.Combine) here made "the same seed gives the same images" false
        // across processes, so two test runs trained on different data.
        Assert.That(SyntheticFaces.ImageSeed(11, 0, 0), Is.EqualTo(1656755946));
        Assert.That(SyntheticFaces.ImageSeed(12, 4, 59), Is.EqualTo(-485577719));
    }

    [Test]
    public void ImageSeed_DiffersAcrossSeedsClassesAndImages()
    {
        var seeds = new HashSet<int>();
        for (int seed = 0; seed < 4; seed++)
            for (int c = 0; c < SyntheticFaces.Labels.Count; c++)
                for (int i = 0; i < 500; i++)
                    seeds.Add(SyntheticFaces.ImageSeed(seed, c, i));
        Assert.That(seeds, Has.Count.EqualTo(4 * SyntheticFaces.Labels.Count * 500));
    }

    [Test]
    public void Generate_ImageThatCannotBeWritten_ThrowsTheIOExceptionItself()
    {
        var root = TestData.NewFolder("synth-blocked");
        Directory.CreateDirectory(Path.Combine(root, "happy", "happy_00001.png")); // a folder where an image goes

        var e = Assert.Catch(() => SyntheticFaces.Generate(root, imagesPerClass: 4, seed: 1));

        Assert.That(e, Is.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>(), "not an AggregateException of every core's failure");
        Assert.That(e!.Message, Does.Contain("happy_00001.png"));
    }

    [Test]
    public void Generate_SameSeedTwice_WritesIdenticalFiles()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fe-synth-{Guid.NewGuid():N}");
        try
        {
            var a = SyntheticFaces.Generate(Path.Combine(root, "a"), imagesPerClass: 3, seed: 5);
            var b = SyntheticFaces.Generate(Path.Combine(root, "b"), imagesPerClass: 3, seed: 5);
            var c = SyntheticFaces.Generate(Path.Combine(root, "c"), imagesPerClass: 3, seed: 6);
            var files = Directory.GetFiles(a, "*.png", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a, f)).Order(StringComparer.Ordinal).ToArray();
            Assert.That(files, Has.Length.EqualTo(3 * SyntheticFaces.Labels.Count));
            Assert.That(files.Select(f => File.ReadAllBytes(Path.Combine(b, f))), Is.EqualTo(files.Select(f => File.ReadAllBytes(Path.Combine(a, f)))));
            Assert.That(files.Any(f => !File.ReadAllBytes(Path.Combine(c, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(a, f)))), "another seed draws other faces");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
