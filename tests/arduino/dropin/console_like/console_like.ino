/*
 * A serial console for the VPN interface, using the original's control
 * functions the ways a void function allows: called as statements, in
 * `return f(...)` of void functions, and from a table of function pointers
 * of the original's types.
 */
#include <ESP8266WiFi.h>
#include <mqttif.h>

char* broker = "broker.lan";
char* broker_username = "site";
char* broker_password = "site-password";
char* vpn_password = "secret";
char* new_password = "rotated";
IPAddress mqtt_vpn_addr(10, 0, 1, 5);
IPAddress mqtt_vpn_dns(10, 0, 1, 1);

struct mqtt_if_data *my_if;

typedef void (*if_command)(struct mqtt_if_data *);

struct command {
  char key;
  if_command run;
};

const command commands[] = {
    {'u', mqtt_if_set_up},      {'d', mqtt_if_set_down},
    {'s', mqtt_if_subscribe},   {'x', mqtt_if_unsubscribe},
    {'f', mqtt_if_flush_reading_topic},
};
if_command leave = mqtt_if_del;

void (*set_password)(struct mqtt_if_data *, char *) = mqtt_if_set_password;
void (*set_address)(struct mqtt_if_data *, uint32_t) = mqtt_if_set_ipaddr;
void (*add_topic)(struct mqtt_if_data *, IPAddress) = mqtt_if_add_reading_topic;
struct mqtt_if_data *(*join)(char *, char *, char *, IPAddress, char *) =
    mqtt_if_init;

void rotate_password() { return set_password(my_if, new_password); }

void move_to(IPAddress addr) { return mqtt_if_set_ipaddr(my_if, addr); }

void small_frames() { return mqtt_if_set_mtu(my_if, 576); }

void use_vpn_dns() {
  mqtt_if_clear_dns();
  return mqtt_if_add_dns(mqtt_vpn_dns);
}

void setup() {
  Serial.begin(115200);
  my_if = join(broker, broker_username, broker_password, mqtt_vpn_addr,
               vpn_password);
  mqtt_if_set_netmask(my_if, IPAddress(255, 255, 0, 0));
  mqtt_if_set_gw(my_if, IPAddress(10, 0, 0, 1));
  mqtt_if_set_flag(my_if, 0x04);
  mqtt_if_clear_flag(my_if, 0x04);
  mqtt_if_set_password(my_if, "literal");
  mqtt_if_set_password(my_if, NULL);
  add_topic(my_if, IPAddress(192, 168, 4, 2));
  set_address(my_if, mqtt_vpn_addr);
  use_vpn_dns();
}

void loop() {
  if (Serial.available() <= 0) {
    return;
  }
  int key = Serial.read();
  for (const command &c : commands) {
    if (c.key == key) {
      c.run(my_if);
    }
  }
  if (key == 'p') rotate_password();
  if (key == 'm') small_frames();
  if (key == 'a') move_to(IPAddress(10, 0, 1, 6));
  if (key == 'q') {
    leave(my_if);
    my_if = NULL;
  }
}
