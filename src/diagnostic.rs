//! `Problem`: one user-facing diagnostic, with a stable code, a message and labels on the
//! source text it comes from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use serde_saphyr::Location;

/// A file whose text diagnostics can point into.
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    named: NamedSource<String>,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> Arc<Self> {
        let named = NamedSource::new(path.display().to_string(), text.clone());
        Arc::new(Self {
            path: path.to_path_buf(),
            text,
            named,
        })
    }

    /// The byte range a YAML location covers, clamped to the text. Locations from a
    /// `Spanned` scalar carry byte offsets; others fall back to line and column.
    pub fn span_of(&self, location: &Location) -> SourceSpan {
        let span = location.span();
        if let (Some(offset), Some(len)) = (span.byte_offset(), span.byte_len()) {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(self.text.len());
            let len = usize::try_from(len)
                .unwrap_or(0)
                .min(self.text.len() - start);
            return SourceSpan::new(start.into(), len.max(usize::from(start < self.text.len())));
        }
        let line = usize::try_from(location.line()).unwrap_or(1);
        let column = usize::try_from(location.column()).unwrap_or(1);
        self.span_at(line, column)
    }

    /// The byte offset of a 1-based line and column, for parsers that report only those.
    pub fn span_at(&self, line: usize, column: usize) -> SourceSpan {
        let mut offset = 0;
        for (index, text_line) in self.text.split_inclusive('\n').enumerate() {
            if index + 1 == line.max(1) {
                let col = text_line
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(text_line.len(), |(i, _)| i);
                offset += col;
                let len = usize::from(offset < self.text.len());
                return SourceSpan::new(offset.into(), len);
            }
            offset += text_line.len();
        }
        SourceSpan::new(self.text.len().into(), 0)
    }

    /// The 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceFile({})", self.path.display())
    }
}

/// One thing wrong, reported with file and line where it comes from a file.
#[derive(Debug)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    pub source: Option<Arc<SourceFile>>,
    /// The file a problem is about when there is no text to show (unreadable, a dangling
    /// link): lets a command tell which runbook is broken.
    pub path: Option<PathBuf>,
    pub labels: Vec<(SourceSpan, String)>,
}

impl Problem {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            help: None,
            source: None,
            path: None,
            labels: Vec::new(),
        }
    }

    pub fn in_file(mut self, source: &Arc<SourceFile>) -> Self {
        self.path = Some(source.path.clone());
        self.source = Some(Arc::clone(source));
        self
    }

    /// Names the file a problem is about, without text to label.
    pub fn about(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The file this problem is about, if it is about one.
    pub fn file(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn label(mut self, span: SourceSpan, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    /// Labels the text at a YAML location; needs `in_file` first.
    pub fn label_at(self, location: &Location, text: impl Into<String>) -> Self {
        match &self.source {
            Some(source) => {
                let span = source.span_of(location);
                self.label(span, text)
            }
            None => self,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line` of the first label, for plain one-line output (JSON, logs).
    pub fn position(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        let line = self
            .labels
            .first()
            .map_or(1, |(span, _)| source.line_of(span.offset()));
        Some(format!("{}:{line}", source.path.display()))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source
            .as_ref()
            .map(|s| &s.named as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|(span, text)| {
            LabeledSpan::new_with_span(Some(text.clone()), *span)
        })))
    }
}

/// Suggests the closest candidate to a misspelled name, when one is close enough.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
