//! `fashion export`: a model file in another format (PyTorch's nn.Sequential by default).

use crate::cli::{ExportArgs, ExportFormat};
use crate::common;

pub fn run(args: ExportArgs) -> Result<(), String> {
    let snapshot = common::read_snapshot(&args.model)?;
    let bytes = match args.format {
        ExportFormat::Pytorch => snapshot.to_pytorch_safetensors(),
        ExportFormat::Safetensors => snapshot.to_safetensors(),
    }
    .map_err(|e| e.to_string())?;
    std::fs::write(&args.out, bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
