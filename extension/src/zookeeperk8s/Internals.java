package zookeeperk8s;

import io.netty.util.AttributeKey;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.zookeeper.server.NettyServerCnxn;

/**
 * ZooKeeper internals the extension relies on, checked when the factory is built: a ZooKeeper
 * that moved any of them must fail to start rather than run without isolation. Built and pinned
 * against 3.9.3 (tests/live/test_extension.py runs {@link #main} against the jars it tests).
 */
public final class Internals {

    private static final String SERVER = "org.apache.zookeeper.server.";

    /** The channel attribute ZooKeeper's Netty handler keeps each connection under. */
    public static final AttributeKey<NettyServerCnxn> CONNECTION = AttributeKey.valueOf("NettyServerCnxn");

    private Internals() {
    }

    /** What is missing or changed; empty when everything the extension uses is as built against. */
    public static List<String> problems() {
        List<String> problems = new ArrayList<>();
        field(problems, SERVER + "NettyServerCnxnFactory", "channelHandler", SERVER + "NettyServerCnxnFactory$CnxnChannelHandler");
        field(problems, SERVER + "ServerCnxnFactory", "login", "org.apache.zookeeper.Login");
        field(problems, SERVER + "NettyServerCnxnFactory", "parentChannel", "io.netty.channel.Channel");
        method(problems, SERVER + "NettyServerCnxnFactory", "reconfigure", java.net.InetSocketAddress.class);
        field(problems, SERVER + "DataNode", "stat", "org.apache.zookeeper.data.StatPersisted");
        method(problems, SERVER + "ServerCnxnFactory", "configureSaslLogin");
        method(problems, SERVER + "ServerCnxnFactory", "getZooKeeperServer");
        method(problems, SERVER + "ZooKeeperServer", "getZKDatabase");
        method(problems, SERVER + "ZKDatabase", "getNode", String.class);
        method(problems, SERVER + "DataNode", "getData");
        method(problems, SERVER + "ServerCnxn", "getAuthInfo");
        method(problems, SERVER + "command.FourLetterCommands", "isKnown", int.class);
        method(problems, SERVER + "admin.Commands", "registerCommand", load(SERVER + "admin.Command"));
        method(problems, SERVER + "admin.Commands", "getCommand", String.class);
        method(problems, SERVER + "admin.Command", "runGet", load(SERVER + "ZooKeeperServer"), Map.class);
        method(problems, SERVER + "admin.CommandResponse", "toMap");
        method(problems, SERVER + "ServerCnxnFactory", "getConnections");
        method(problems, SERVER + "ZooKeeperServer", "getSecureServerCnxnFactory");
        for (String command : List.of("srvr", "voting_view")) {  // what ProbeCommand answers for
            try {
                if (org.apache.zookeeper.server.admin.Commands.getCommand(command) == null) {
                    problems.add("admin command " + command + " is gone");
                }
            } catch (RuntimeException | LinkageError e) {
                problems.add("admin command " + command + ": " + e);
            }
        }
        constructor(problems, "org.apache.zookeeper.Login", String.class, Supplier.class,
                    load("org.apache.zookeeper.common.ZKConfig"));
        constructor(problems, SERVER + "auth.SaslServerCallbackHandler", Map.class);
        try {
            Field key = Class.forName(SERVER + "NettyServerCnxnFactory").getDeclaredField("CONNECTION_ATTRIBUTE");
            key.setAccessible(true);
            if (key.get(null) != CONNECTION) {
                problems.add("NettyServerCnxnFactory.CONNECTION_ATTRIBUTE is no longer AttributeKey \"NettyServerCnxn\"");
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            problems.add("NettyServerCnxnFactory.CONNECTION_ATTRIBUTE: " + e);
        }
        return problems;
    }

    public static void verify() {
        List<String> problems = problems();
        if (!problems.isEmpty()) {
            throw new IllegalStateException("this ZooKeeper is not one the zookeeper-k8s extension was built for "
                                            + "(refusing to start without client isolation): " + problems);
        }
    }

    private static Class<?> load(String name) {
        try {
            return Class.forName(name);
        } catch (ClassNotFoundException e) {
            return null;
        }
    }

    private static void field(List<String> problems, String owner, String name, String type) {
        try {
            Field field = Class.forName(owner).getDeclaredField(name);
            if (!field.getType().getName().equals(type)) {
                problems.add(owner + "." + name + " is " + field.getType().getName() + ", not " + type);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            problems.add(owner + "." + name + ": " + e);
        }
    }

    private static void method(List<String> problems, String owner, String name, Class<?>... parameters) {
        try {
            Class<?> type = Class.forName(owner);
            while (type != null) {
                try {
                    type.getDeclaredMethod(name, parameters);
                    return;
                } catch (NoSuchMethodException e) {
                    type = type.getSuperclass();
                }
            }
            problems.add(owner + "." + name + " is gone");
        } catch (ReflectiveOperationException | RuntimeException e) {
            problems.add(owner + "." + name + ": " + e);
        }
    }

    private static void constructor(List<String> problems, String owner, Class<?>... parameters) {
        try {
            Class.forName(owner).getDeclaredConstructor(parameters);
        } catch (ReflectiveOperationException | RuntimeException e) {
            problems.add("new " + owner + ": " + e);
        }
    }

    /** Prints each problem and exits non-zero if there is any: the pin tests run this. */
    public static void main(String[] args) {
        List<String> problems = problems();
        problems.forEach(System.out::println);
        System.out.println(problems.isEmpty() ? "internals: as built against" : "internals: " + problems.size() + " problems");
        System.exit(problems.isEmpty() ? 0 : 1);
    }
}
