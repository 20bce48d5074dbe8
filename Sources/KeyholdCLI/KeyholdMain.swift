public enum KeyholdMain { public static func main() {} }
