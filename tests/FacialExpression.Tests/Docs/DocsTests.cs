using System.Text.RegularExpressions;

namespace FacialExpression.Tests.Docs;

public sealed class DocsTests
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FacialExpression.sln"))) return dir.FullName;
        throw new InvalidOperationException("Repository root not found above " + AppContext.BaseDirectory);
    }

    [TestCase("Quickstart", 3)]
    [TestCase("PhotoExpressions", 1)]
    public void GettingStarted_QuotesTheSampleSnippetsVerbatim(string sampleName, int count)
    {
        var root = RepoRoot();
        var sample = File.ReadAllText(Path.Combine(root, "samples", sampleName, "Program.cs")).ReplaceLineEndings("\n");
        var doc = File.ReadAllText(Path.Combine(root, "docs", "getting-started.md")).ReplaceLineEndings("\n");
        var snippets = Regex.Matches(sample, @"// snippet:([\w-]+)\n(.*?)\n\s*// endsnippet", RegexOptions.Singleline);
        Assert.That(snippets, Has.Count.EqualTo(count));
        foreach (Match m in snippets)
            Assert.That(doc, Does.Contain(m.Groups[2].Value), $"docs/getting-started.md is out of date with snippet '{m.Groups[1].Value}'");
    }

    [Test]
    public void CiRunsTheReadmeTestCommand()
    {
        var root = RepoRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var command = Regex.Match(readme, @"\| Run the tests[^|]*\| `([^`]+)` \|").Groups[1].Value;
        Assert.That(command, Is.Not.Empty);
        Assert.That(File.ReadAllLines(Path.Combine(root, ".ci", "run")).Last(l => l.Trim().Length > 0), Is.EqualTo(command));
    }
}
