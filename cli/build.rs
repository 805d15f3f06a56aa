//! Re-embeds the browser viewer (`web-viewer/www`, see `src/view/assets.rs`)
//! whenever its files change, including when `scripts/build-viewer` adds
//! `www/pkg/` (the wasm) after a first build without it.

fn main() {
    let www = std::path::Path::new("../web-viewer/www");
    println!("cargo:rerun-if-changed=../web-viewer/www");
    println!("cargo:rerun-if-changed=build.rs");
    if !www.join("pkg").is_dir() || !www.join("vendor").is_dir() {
        println!(
            "cargo:warning=web-viewer/www/pkg or vendor is not built: this ihist embeds no viewer page \
             (`ihist view` will say so; --www DIR still works); run scripts/build-viewer, then build ihist again"
        );
    }
}
