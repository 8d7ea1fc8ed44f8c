// Trace prints a Java stack trace with a cause and a suppressed exception
// between two plain lines, for the multiline test.
public class Trace {
    static void inner() {
        throw new NullPointerException("inner");
    }

    static void outer() {
        try {
            inner();
        } catch (RuntimeException e) {
            IllegalStateException ise = new IllegalStateException("outer", e);
            ise.addSuppressed(new java.io.IOException("close failed"));
            throw ise;
        }
    }

    public static void main(String[] args) {
        System.err.println("before");
        try {
            outer();
        } catch (Exception e) {
            e.printStackTrace();
        }
        System.err.println("after");
    }
}
