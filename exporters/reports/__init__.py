"""Reports (SPEC §9): the numbers (`numbers`), the risk and recovery documents (`risk`, `recovery`),
and their terminal, Markdown and HTML forms (`render`, `charts`, `html_page`)."""
