import java.util.ArrayList;
import java.util.List;

/**
 * Fills its heap, 4 MiB at a time, and keeps every array: with a heap
 * limit (-Xmx) above the container's memory limit, the kernel's OOM
 * killer ends it before the JVM ever throws OutOfMemoryError.
 */
public class HeapHog {
    public static void main(String[] args) throws InterruptedException {
        List<byte[]> kept = new ArrayList<>();
        System.out.println("HeapHog growing, max heap " + Runtime.getRuntime().maxMemory());
        while (true) {
            byte[] b = new byte[4 << 20];
            for (int i = 0; i < b.length; i += 4096) {
                b[i] = 1;
            }
            kept.add(b);
            Thread.sleep(10);
        }
    }
}
