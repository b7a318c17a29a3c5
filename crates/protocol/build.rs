//! Compiles `proto/protocol.proto` with protox (a pure-Rust protobuf compiler), so no `protoc`
//! binary is needed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/protocol.proto");
    let descriptors = protox::compile(["proto/protocol.proto"], ["proto"])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
