"""The repository stands on its own: README's links resolve inside it."""
import os
import re
import unittest

from harness import REPO_ROOT


class DocsTest(unittest.TestCase):
    def test_readme_links_resolve_in_the_repository(self):
        with open(os.path.join(REPO_ROOT, "README.md")) as f:
            text = f.read()
        self.assertIn("(docs/DESIGN.md)", text)
        self.assertNotIn("../shared", text)
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" in target:
                continue
            path = os.path.normpath(os.path.join(REPO_ROOT, target))
            with self.subTest(link=target):
                self.assertTrue(path.startswith(REPO_ROOT + os.sep), path)
                self.assertTrue(os.path.exists(path), path)

    def test_design_covers_what_a_user_needs(self):
        with open(os.path.join(REPO_ROOT, "docs", "DESIGN.md")) as f:
            text = f.read()
        for head in ("## The pipeline", "## The lab", "## Stacks under test",
                     "## Workloads", "## Results and reports"):
            self.assertIn(head, text)


if __name__ == "__main__":
    unittest.main()
