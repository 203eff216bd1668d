//! What the build log shows: the commands' own output, interleaved with CodeBuild-style
//! `[Container] 2026/11/21 21:05:38.123 ...` lines, with parameter-store values masked as
//! CodeBuild masks them. Masking works line by line, so output is held back until its
//! line is complete; a value that itself spans lines is masked line by line.
//!
//! Writing the log never fails a build: a log that cannot be written is CodeBuild's
//! CloudWatch being unavailable, not the build going wrong.

use std::io::Write;
use std::time::SystemTime;

const MASK: &[u8] = b"***";

pub(crate) struct ContainerLog<'a> {
    out: &'a mut dyn Write,
    secrets: Vec<Vec<u8>>,
    pending: Vec<u8>,
}

fn replace_all(line: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(needle) {
            out.extend_from_slice(MASK);
            i += needle.len();
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    out
}

impl<'a> ContainerLog<'a> {
    pub fn new(out: &'a mut dyn Write, secrets: &[String]) -> Self {
        let mut secrets: Vec<Vec<u8>> = secrets
            .iter()
            .flat_map(|s| s.split('\n'))
            .filter(|piece| !piece.is_empty())
            .map(|piece| piece.as_bytes().to_vec())
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        ContainerLog {
            out,
            secrets,
            pending: vec![],
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let mut masked = line.to_vec();
        for secret in &self.secrets {
            masked = replace_all(&masked, secret);
        }
        let _ = self.out.write_all(&masked);
    }

    /// Output of a running command, in whatever pieces it arrives.
    pub fn output(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line);
        }
    }

    /// Ends a command's output: a last line without a newline gets one, so the next
    /// `[Container]` line starts a line of its own.
    pub fn end_output(&mut self) {
        if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            self.emit(&line);
        }
        let _ = self.out.flush();
    }

    /// A line from the runner itself.
    pub fn container(&mut self, message: &str) {
        self.end_output();
        let line = format!("[Container] {} {message}\n", crate::clock::log_stamp(SystemTime::now()));
        self.emit(line.as_bytes());
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_across_chunk_boundaries() {
        let mut out = vec![];
        {
            let mut log = ContainerLog::new(&mut out, &["hunter2".into(), "two\nlines".into()]);
            log.output(b"password is hun");
            log.output(b"ter2!\nsecond: two and lines\nno newline");
            log.end_output();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "password is ***!\nsecond: *** and ***\nno newline\n"
        );
    }

    #[test]
    fn longest_secret_wins_and_empty_ones_are_ignored() {
        let mut out = vec![];
        {
            let mut log = ContainerLog::new(&mut out, &["abc".into(), "abcdef".into(), String::new()]);
            log.output(b"abcdef abc\n");
        }
        assert_eq!(out, b"*** ***\n");
    }

    #[test]
    fn container_lines_start_on_their_own_line() {
        let mut out = vec![];
        {
            let mut log = ContainerLog::new(&mut out, &[]);
            log.output(b"partial");
            log.container("Running command make");
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "partial");
        assert!(lines[1].starts_with("[Container] 20"), "{text}");
        assert!(lines[1].ends_with(" Running command make"), "{text}");
    }
}
