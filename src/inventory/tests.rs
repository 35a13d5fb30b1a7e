use super::*;
use crate::model::AnsibleInventory;

fn inventory(yaml: &str) -> Inventory {
    let loaded =
        crate::load::parse::<AnsibleInventory>(std::path::Path::new("inv.yaml"), yaml.into())
            .unwrap_or_else(|p| panic!("{}", p.message));
    let mut defs = Definitions::default();
    add_ansible(&mut defs, &loaded.value);
    Inventory::build(defs).unwrap_or_else(|p| panic!("{}", p[0].message))
}

const INVENTORY: &str = "
all:
  vars:
    env_file: /srv/default.env
    tier: all
  hosts:
    db1:
  children:
    api:
      vars:
        tier: api
      hosts:
        web1:
          ansible_host: 10.0.0.1
          ansible_port: 2201
        web2:
          tier: special
      children:
        canary:
          hosts:
            web3:
";

#[test]
fn children_belong_to_their_parents_and_vars_layer_by_depth() {
    let inv = inventory(INVENTORY);
    assert_eq!(inv.select("api").unwrap(), ["web1", "web2", "web3"]);
    assert_eq!(inv.select("all").unwrap(), ["db1", "web1", "web2", "web3"]);
    assert_eq!(inv.vars("web1").unwrap()["tier"], "api");
    assert_eq!(inv.vars("web2").unwrap()["tier"], "special");
    assert_eq!(inv.vars("db1").unwrap()["tier"], "all");
    assert_eq!(inv.vars("web3").unwrap()["env_file"], "/srv/default.env");
    let c = inv.connection("web1").unwrap();
    assert_eq!((c.address.as_str(), c.port), ("10.0.0.1", Some(2201)));
    assert_eq!(inv.connection("db1").unwrap().address, "db1");
}

#[test]
fn patterns_union_intersect_exclude_and_glob() {
    let inv = inventory(INVENTORY);
    assert_eq!(inv.select("api:!canary").unwrap(), ["web1", "web2"]);
    assert_eq!(inv.select("all:&api").unwrap(), ["web1", "web2", "web3"]);
    assert_eq!(
        inv.select("web*,db1").unwrap(),
        ["db1", "web1", "web2", "web3"]
    );
    assert_eq!(inv.select("web?:!web2").unwrap(), ["web1", "web3"]);
    assert!(
        inv.select("apo")
            .unwrap_err()
            .contains("`apo` names no host or group")
    );
}

#[test]
fn limit_narrows_every_selection() {
    let mut inv = inventory(INVENTORY);
    inv.limit("web1,db1").unwrap();
    assert_eq!(inv.select("api").unwrap(), ["web1"]);
    assert!(inv.limit("nothing*").is_err());
}

#[test]
fn selections_follow_the_order_the_inventory_lists_hosts() {
    let mut inv = inventory(
        "
api:
  hosts:
    web10:
    web2:
    web1:
canary:
  hosts:
    web0:
    web2:
",
    );
    assert_eq!(inv.select("api").unwrap(), ["web10", "web2", "web1"]);
    assert_eq!(
        inv.select("all").unwrap(),
        ["web10", "web2", "web1", "web0"]
    );
    assert_eq!(
        inv.select("canary:api").unwrap(),
        ["web10", "web2", "web1", "web0"]
    );
    inv.limit("web1,web10").unwrap();
    assert_eq!(inv.select("all").unwrap(), ["web10", "web1"]);
}

#[test]
fn a_host_written_twice_in_one_group_is_refused() {
    let loaded = crate::load::parse::<AnsibleInventory>(
        std::path::Path::new("inv.yaml"),
        "api:\n  hosts:\n    web1:\n    web1:\n".into(),
    );
    assert!(loaded.is_err());
}
