fn main() {
    println!("tfpilot");
}
